"""notify.domain.tokens: deep-link payloads and button tokens are random and opaque; unsubscribe
tokens are signed and cannot be edited into another user's. Pure."""

from __future__ import annotations

import re
import uuid

from notify.domain.tokens import (
    is_button_token,
    is_deeplink_payload,
    new_button_token,
    new_deeplink_token,
    read_unsubscribe_token,
    token_hash,
    unsubscribe_token,
)

KEY = "a-test-signing-key-of-some-length"


def test_deeplink_tokens_are_valid_start_payloads_and_never_repeat() -> None:
    tokens = {new_deeplink_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
        assert is_deeplink_payload(token)


def test_what_telegram_cannot_pass_to_start_is_no_payload() -> None:
    assert is_deeplink_payload("x" * 64)
    assert not is_deeplink_payload("x" * 65)
    assert not is_deeplink_payload("")
    assert not is_deeplink_payload("has space")
    assert not is_deeplink_payload("emoji-🙂")


def test_only_a_hash_of_a_token_is_stored() -> None:
    token = new_deeplink_token()
    stored = token_hash(token)
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and token not in stored
    assert token_hash(token) == stored and token_hash(token + "x") != stored


def test_button_tokens_fit_telegrams_callback_data_and_look_like_ours() -> None:
    token = new_button_token()
    assert len(token.encode()) <= 64 and is_button_token(token)
    assert token != new_button_token()
    assert not is_button_token("confirm:" + str(uuid.uuid4()))
    assert not is_button_token("b1." + "x" * 62)  # ours have that prefix, but never this long


def test_an_unsubscribe_token_names_its_user_only_under_its_key() -> None:
    user = uuid.uuid4()
    token = unsubscribe_token(user, KEY)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert read_unsubscribe_token(token, KEY) == user
    assert read_unsubscribe_token(token, KEY + "-other") is None


def test_an_edited_or_foreign_unsubscribe_token_is_not_ours() -> None:
    anna, boris = uuid.uuid4(), uuid.uuid4()
    annas = unsubscribe_token(anna, KEY)
    borises_body = unsubscribe_token(boris, KEY).partition(".")[0]
    assert read_unsubscribe_token(borises_body + "." + annas.partition(".")[2], KEY) is None
    edited = annas[:-1] + ("B" if annas.endswith("A") else "A")
    assert read_unsubscribe_token(edited, KEY) is None
    for garbage in ("", ".", "not-base64!.x", "AAAA", annas.partition(".")[0]):
        assert read_unsubscribe_token(garbage, KEY) is None
