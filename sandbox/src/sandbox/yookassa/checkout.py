"""The sandbox checkout page: where ``confirmation_url`` sends a payer, like YooKassa's own page.

``GET /sandbox/checkout/{payment_id}`` shows the amount and a card form. ``POST`` the form
(``card_number``, ``expiry_month``, ``expiry_year``, ``csc``, ``action=pay|decline``) to pay or to
give up. YooKassa's test cards decide the outcome: ``5555 5555 5555 4444`` pays, a number ending in
``4600`` (insufficient funds), ``4592`` (3-D Secure failed) or ``4527`` (general decline) declines
and cancels the payment. ``action=decline`` cancels it with ``expired_on_confirmation``, as if the
payer had left. Either way the answer is ``303 See Other`` to the payment's ``return_url``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sandbox.yookassa.store import DECLINING_CARDS, SUCCESS_CARD

CHECKOUT_PATH = "/sandbox/checkout"
"""Path of the checkout page; ``confirmation_url`` is ``<fake>/sandbox/checkout/<payment_id>``."""

_STYLE = (
    "body{font-family:sans-serif;max-width:32em;margin:3em auto;color:#222}"
    "label{display:block;margin:.6em 0}input{font-size:1em;padding:.3em}"
    "button{font-size:1em;padding:.5em 1.2em;margin-right:.5em}.error{color:#b00}"
    "table{border-collapse:collapse}td{padding:.2em .8em .2em 0}"
)


def _page(title: str, content: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{content}"
        "</body></html>"
    )


def checkout_page(payment: dict[str, Any], error: str | None = None) -> str:
    """The page for a payment: amount, description, and the card form while ``pending``."""
    amount = payment["amount"]
    summary = (
        f"<p>Payment <code>{escape(payment['id'])}</code>: "
        f"<strong>{escape(amount['value'])} {escape(amount['currency'])}</strong>"
        f"{' — ' + escape(payment['description']) if payment.get('description') else ''}</p>"
    )
    if payment["status"] != "pending":
        return _page(
            "YooKassa sandbox checkout",
            f"{summary}<p>This payment is <strong>{escape(payment['status'])}</strong>.</p>",
        )
    cards = "".join(
        f"<tr><td><code>5555 5555 5555 {last4}</code></td><td>{escape(reason)}</td></tr>"
        for last4, (_, reason) in DECLINING_CARDS.items()
    )
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    form = (
        f'<form method="post" action="{CHECKOUT_PATH}/{escape(payment["id"])}">'
        f'<label>Card number <input name="card_number" value="{SUCCESS_CARD}" '
        'autocomplete="off" size="22"></label>'
        '<label>Expiry <input name="expiry_month" value="12" size="2"> / '
        '<input name="expiry_year" value="2030" size="4"></label>'
        '<label>CVC <input name="csc" value="123" size="3"></label>'
        '<button name="action" value="pay" type="submit">Pay</button>'
        '<button name="action" value="decline" type="submit">Cancel and return</button>'
        "</form>"
    )
    hint = (
        "<p>Test cards: <code>5555 5555 5555 4444</code> pays; these decline:</p>"
        f"<table>{cards}</table>"
    )
    return _page("YooKassa sandbox checkout", summary + problem + form + hint)


def message_page(title: str, text: str) -> str:
    """A plain page for an unknown payment or a refused form."""
    return _page(title, f"<p>{escape(text)}</p>")
