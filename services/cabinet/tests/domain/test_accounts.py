"""What an owner may change of their account (cabinet.domain.accounts), without I/O."""

from __future__ import annotations

from cabinet.domain.accounts import Contacts, contact_changes

NOW = Contacts(name="Анна", phone="+79160001122", time_zone="Europe/Moscow", language="ru")


def test_only_what_was_sent_and_differs_changes() -> None:
    assert contact_changes(NOW, {}) == {}
    assert contact_changes(NOW, {"name": "Анна", "language": "ru"}) == {}
    assert contact_changes(NOW, {"time_zone": "Asia/Yekaterinburg", "language": "en"}) == {
        "time_zone": "Asia/Yekaterinburg",
        "language": "en",
    }


def test_a_name_zone_or_language_is_never_removed_but_a_phone_is() -> None:
    sent = {"name": None, "time_zone": None, "language": None}
    assert contact_changes(NOW, sent) == {}
    assert contact_changes(NOW, {"phone": None}) == {"phone": None}
    no_phone = Contacts(name="Анна", phone=None, time_zone="UTC", language="en")
    assert contact_changes(no_phone, {"phone": None}) == {}
    assert contact_changes(no_phone, {"phone": "+79160001122"}) == {"phone": "+79160001122"}


def test_the_changed_fields_come_in_a_stable_order() -> None:
    sent = {"phone": "+79990000000", "language": "en", "name": "Мария"}
    assert list(contact_changes(NOW, sent)) == ["name", "language", "phone"]
