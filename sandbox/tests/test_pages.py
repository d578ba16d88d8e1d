"""The sandbox pages as a person sees them: each fake's ``/_sandbox/`` opened in headless Chromium.

Data goes in through each fake's own API (a paid and refunded payment and its notifications, a
bot message with buttons that is edited and tapped, a user's message, a mail with an .ics
attachment and a hostile HTML part, Google events and a watch channel); Chromium (Debian's
``chromium`` package, ``--headless --dump-dom``) loads the page, runs whatever would run, and the
test reads the resulting DOM: visible text, bubbles, button labels, and that hostile content stayed
text (no injected element, the title unchanged).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib
import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi import FastAPI, Request, Response
from sandbox.google import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, running_google
from sandbox.pages import MAX_ROWS
from sandbox.telegram import running_telegram_fake
from sandbox.testing import running_smtp_sink, serve_app
from sandbox.yookassa import NotificationPolicy, running_yookassa

HOSTILE_SCRIPT = "<script>document.title='pwned';document.body.dataset.pwned='yes'</script>"
HOSTILE_IMG = "<img src=x onerror=\"document.title='pwned'\">"


def chromium_binary() -> str:
    """Debian's chromium; skipped only outside CI when it is missing (CI installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs it through `make chromium`)")
        pytest.skip("chromium not found: `make chromium` (apt-get install chromium) to run this")
    return found


async def open_in_chromium(url: str) -> BeautifulSoup:
    """The page's DOM after Chromium loaded it and ran what it would run."""
    with tempfile.TemporaryDirectory(prefix="sandbox-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            chromium_binary(),
            "--headless",
            "--no-sandbox",  # tests run as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=2000",
            "--dump-dom",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    assert stdout.strip(), f"chromium printed no DOM: {stderr.decode(errors='replace')[-2000:]}"
    return BeautifulSoup(stdout.decode(), "html.parser")


def text_of(node: Tag | BeautifulSoup) -> str:
    return " ".join(node.get_text(" ").split())


def assert_nothing_injected(dom: BeautifulSoup, title: str) -> None:
    """No script ran and no element came from the data: the title is the page's own."""
    assert dom.title is not None and dom.title.get_text() == title
    assert dom.find("script") is None
    assert dom.body is not None and dom.body.get("data-pwned") is None
    assert all(img.get("src") != "x" for img in dom.find_all("img"))


@pytest.fixture
def chromium() -> str:
    return chromium_binary()


# --------------------------------------------------------------------------- YooKassa


def receipt(value: str) -> dict[str, Any]:
    return {
        "customer": {"email": "client@example.org"},
        "items": [
            {
                "description": "Psychologist's session, 50 minutes",
                "quantity": "1.00",
                "amount": {"value": value, "currency": "RUB"},
                "vat_code": 1,
                "payment_mode": "full_payment",
                "payment_subject": "service",
            }
        ],
    }


@pytest.fixture
async def webhook() -> AsyncIterator[str]:
    app = FastAPI()

    @app.post("/yookassa")
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    async with serve_app(app) as url:
        yield f"{url}/yookassa"


async def test_yookassa_page_shows_payments_refunds_and_notifications(
    chromium: str, webhook: str
) -> None:
    async with (
        running_yookassa(
            webhook_url=webhook, notification_policy=NotificationPolicy(first_delay=0.05)
        ) as yk,
        httpx.AsyncClient(
            base_url=yk.api_url, auth=("sandbox-shop", "sandbox-secret"), trust_env=False
        ) as api,
    ):

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            key = {"Idempotence-Key": str(uuid.uuid4())}
            response = await api.post(path, json=body, headers=key)
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        paid = await post(
            "/payments",
            {
                "amount": {"value": "3500.00", "currency": "RUB"},
                "capture": True,
                "confirmation": {"type": "redirect", "return_url": "http://127.0.0.1/back"},
                "description": f"Session 15 January {HOSTILE_SCRIPT}",
                "metadata": {"appointment_id": "a-1"},
                "receipt": receipt("3500.00"),
            },
        )
        pending = await post(
            "/payments",
            {
                "amount": {"value": "1200.00", "currency": "RUB"},
                "confirmation": {"type": "redirect", "return_url": "http://127.0.0.1/back"},
                "description": f"Group session {HOSTILE_IMG}",
                "receipt": receipt("1200.00"),
            },
        )
        async with httpx.AsyncClient(base_url=yk.base_url, trust_env=False) as inspection:
            succeeded = await inspection.post(f"/_sandbox/payments/{paid['id']}/succeed")
            assert succeeded.json()["status"] == "succeeded"
        await post(
            "/refunds",
            {"payment_id": paid["id"], "amount": {"value": "500.00", "currency": "RUB"}},
        )
        await yk.fake.notifier.wait_for(
            lambda found: sum(n.state == "delivered" for n in found) >= 2, timeout=10
        )

        dom = await open_in_chromium(f"{yk.base_url}/_sandbox/?refresh=0")

    assert_nothing_injected(dom, "YooKassa sandbox: payments")
    rows = {row["data-payment-id"]: row for row in dom.select("tr.payment")}
    assert list(rows) == [pending["id"], paid["id"]]  # newest first
    paid_row = text_of(rows[paid["id"]])
    assert "succeeded" in paid_row and "3500.00 RUB" in paid_row
    assert "Bank card *4444" in paid_row and "refunded 500.00" in paid_row
    assert f"Session 15 January {HOSTILE_SCRIPT}" in paid_row  # shown as text, not run
    assert "appointment_id=a-1" in paid_row
    pending_row = rows[pending["id"]]
    assert "pending" in text_of(pending_row) and HOSTILE_IMG in text_of(pending_row)
    checkout = pending_row.find("a", string="checkout page")
    assert checkout is not None and checkout["href"].endswith(f"/sandbox/checkout/{pending['id']}")

    notifications = [text_of(row) for row in dom.select("tr.notification")]
    assert any(
        "payment.succeeded" in n and paid["id"] in n and "delivered" in n and "HTTP 200" in n
        for n in notifications
    ), notifications
    assert any("refund.succeeded" in n and "HTTP 200" in n for n in notifications)
    assert webhook in text_of(dom)


# --------------------------------------------------------------------------- Telegram


async def test_telegram_page_shows_chats_as_bubbles_with_buttons(chromium: str) -> None:
    async with running_telegram_fake() as tg:
        await tg.create_user(555, first_name="Ivan", language_code="ru")

        async def bot(method: str, **params: Any) -> Any:
            response = await tg.http.post(f"/bot{tg.token}/{method}", json=params)
            assert response.json()["ok"], response.text
            return response.json()["result"]

        keyboard = {
            "inline_keyboard": [
                [{"text": "I will come", "callback_data": "attend:yes"}],
                [
                    {"text": "Reschedule", "callback_data": "attend:move"},
                    {"text": "Cancel", "callback_data": "attend:no"},
                ],
            ]
        }
        reminder = await bot(
            "sendMessage",
            chat_id=555,
            text="Reminder: your session is <b>tomorrow</b> at 10:00",
            parse_mode="HTML",
            reply_markup=keyboard,
        )
        await tg.http.post("/_sandbox/users/555/tap", json={"button_text": "I will come"})
        await bot(
            "editMessageText",
            chat_id=555,
            message_id=reminder["message_id"],
            text="Reminder: your session is tomorrow at 10:00. See you!",
        )
        await tg.http.post("/_sandbox/users/555/text", json={"text": f"Thanks {HOSTILE_SCRIPT}"})
        await bot("sendMessage", chat_id=555, text=f"Echo {HOSTILE_IMG}")
        mistake = await bot("sendMessage", chat_id=555, text="Sent by mistake")
        assert await bot("deleteMessage", chat_id=555, message_id=mistake["message_id"]) is True

        dom = await open_in_chromium(f"{tg.base_url}/_sandbox/?refresh=0")

    assert_nothing_injected(dom, "Telegram sandbox: @praktika_sandbox_bot")
    chat = dom.select_one("section.chat[data-chat-id='555']")
    assert chat is not None and "Ivan" in text_of(chat)
    bubbles = chat.select(".bubble")
    assert [b["data-sender"] for b in bubbles] == ["bot", "user", "bot", "bot"]
    first, user_message, echo, deleted = bubbles

    assert "Reminder: your session is tomorrow at 10:00. See you!" in text_of(first)
    assert "edited" in text_of(first.select_one(".meta") or first)
    assert "1 earlier version(s)" in text_of(first)
    assert [text_of(b) for b in first.select(".keyboard .button")] == []  # the edit dropped them
    assert "tapped attend:yes" in text_of(first)

    assert text_of(user_message.select_one(".text") or user_message) == f"Thanks {HOSTILE_SCRIPT}"
    assert "user" in (user_message.find_parent(class_="row") or user_message)["class"]
    assert text_of(echo.select_one(".text") or echo) == f"Echo {HOSTILE_IMG}"
    assert "deleted" in deleted["class"] and "Sent by mistake" in text_of(deleted)
    assert "deleted" in text_of(deleted.select_one(".meta") or deleted)
    assert "deleted" not in echo["class"] and "edited" not in text_of(echo)


async def test_telegram_page_shows_the_inline_keyboard_row_by_row(chromium: str) -> None:
    async with running_telegram_fake() as tg:
        await tg.create_user(777, first_name="Anna")
        response = await tg.http.post(
            f"/bot{tg.token}/sendMessage",
            json={
                "chat_id": 777,
                "text": 'Choose a <b>time</b> or <a href="https://praktika.example/s">see all</a>',
                "parse_mode": "HTML",
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {"text": "Mon 10:00", "callback_data": "slot:1"},
                            {"text": "Tue 12:00", "callback_data": "slot:2"},
                        ],
                        [{"text": "Open the site", "url": "https://praktika.example/"}],
                    ]
                },
            },
        )
        assert response.json()["ok"]
        dom = await open_in_chromium(f"{tg.base_url}/_sandbox/")  # as a person opens it

    assert dom.find("meta", attrs={"http-equiv": "refresh"}) is not None
    (bubble,) = dom.select(".bubble[data-sender='bot']")
    assert text_of(bubble.select_one(".text") or bubble) == "Choose a time or see all"
    bold, link = bubble.select_one(".text b"), bubble.select_one(".text a")
    assert bold is not None and bold.get_text() == "time"
    assert link is not None and link["href"] == "https://praktika.example/s"
    rows = [[text_of(b) for b in row.select(".button")] for row in bubble.select(".krow")]
    assert rows == [["Mon 10:00", "Tue 12:00"], ["Open the site"]]


# --------------------------------------------------------------------------- SMTP


def invitation_mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Praktika <noreply@praktika.example>"
    message["To"] = "Client <client@example.org>"
    message["Subject"] = "Your session on 15 January"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="praktika.example")
    message.set_content(f"Your session is confirmed.\n{HOSTILE_SCRIPT}\n")
    message.add_alternative(
        f"<p>Your session is <b>confirmed</b>.</p>{HOSTILE_SCRIPT}{HOSTILE_IMG}", subtype="html"
    )
    message.add_attachment(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
        maintype="text",
        subtype="calendar",
        filename="session.ics",
    )
    return message


async def test_mailbox_page_lists_mails_and_shows_one_safely(chromium: str) -> None:
    async with running_smtp_sink() as sink:
        await aiosmtplib.send(invitation_mail(), hostname=sink.smtp_host, port=sink.smtp_port)
        (stored,) = await sink.store.wait_for_messages(count=1)

        mailbox = await open_in_chromium(f"{sink.inspection_url}/_sandbox/?refresh=0")
        mail = await open_in_chromium(f"{sink.inspection_url}/_sandbox/mail/{stored.id}")

    assert_nothing_injected(mailbox, "Mail sandbox: mailbox")
    (row,) = mailbox.select("tr.mail")
    listed = text_of(row)
    assert "noreply@praktika.example" in listed and "client@example.org" in listed
    assert "Your session on 15 January" in listed and "session.ics" in listed
    link = row.find("a")
    assert link is not None and link["href"] == f"/_sandbox/mail/{stored.id}"

    assert_nothing_injected(mail, "Mail sandbox: Your session on 15 January")
    assert text_of(mail.select_one(".subject") or mail) == "Your session on 15 January"
    attachments = text_of(mail.select_one("table.attachments") or mail)
    assert "session.ics" in attachments and "text/calendar" in attachments
    text_part = mail.select_one("pre.text-part")
    assert text_part is not None and HOSTILE_SCRIPT in text_part.get_text()
    # the HTML part is the srcdoc of a frame that may run nothing (sandbox with no allowances)
    (frame,) = mail.select("iframe.html-part")
    assert frame.has_attr("sandbox") and not frame["sandbox"]  # present, and allows nothing
    assert frame["srcdoc"].startswith("<p>Your session is <b>confirmed</b>.</p>")
    assert HOSTILE_SCRIPT in frame["srcdoc"]


# --------------------------------------------------------------------------- Google


async def test_google_page_shows_calendars_events_and_channels(chromium: str) -> None:
    receiver = FastAPI()

    @receiver.post("/gcal")
    async def hook() -> Response:
        return Response(status_code=200)

    async with (
        running_google() as google,
        serve_app(receiver) as receiver_url,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        token = await http.post(
            google.token_uri,
            data={
                "grant_type": "refresh_token",
                "refresh_token": google.refresh_token("anna@practice.example"),
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        events = f"{google.api_url}/calendars/primary/events"
        watched = await http.post(
            f"{events}/watch",
            headers=headers,
            json={"id": "chan-1", "type": "web_hook", "address": f"{receiver_url}/gcal"},
        )
        assert watched.status_code == 200, watched.text
        created = await http.post(
            events,
            headers=headers,
            json={
                "summary": f"Session with a client {HOSTILE_SCRIPT}",
                "start": {"dateTime": "2027-01-15T10:00:00+03:00"},
                "end": {"dateTime": "2027-01-15T10:50:00+03:00"},
                "extendedProperties": {"private": {"praktika_appointment": "a-1"}},
            },
        )
        assert created.status_code == 200, created.text
        gone = await http.post(
            events,
            headers=headers,
            json={
                "summary": "Moved away",
                "start": {"dateTime": "2027-01-16T10:00:00+03:00"},
                "end": {"dateTime": "2027-01-16T10:50:00+03:00"},
            },
        )
        await http.delete(f"{events}/{gone.json()['id']}", headers=headers)
        await google.inspect("GET", "/notifications", params={"count": 3, "wait": 5})

        dom = await open_in_chromium(f"{google.base_url}/_sandbox/?refresh=0")

    assert_nothing_injected(dom, "Google Calendar sandbox")
    calendar = dom.select_one("section.calendar[data-calendar-id='anna@practice.example']")
    assert calendar is not None
    rows = {row["data-event-id"]: row for row in calendar.select("tr.event")}
    session = text_of(rows[created.json()["id"]])
    assert f"Session with a client {HOSTILE_SCRIPT}" in session
    assert "2027-01-15T10:00:00+03:00" in session and "confirmed" in session
    assert "praktika_appointment=a-1" in session
    deleted = rows[gone.json()["id"]]
    assert "status-cancelled" in deleted["class"] and "Moved away" in text_of(deleted)

    channels = text_of(dom.select_one("table.channels") or dom)
    assert "chan-1" in channels and f"{receiver_url}/gcal" in channels and "live" in channels
    deliveries = text_of(dom.select_one("table.deliveries") or dom)
    assert "sync" in deliveries and "exists" in deliveries and "HTTP 200" in deliveries


# --------------------------------------------------------------------------- without a browser


async def test_pages_forbid_scripts_and_stay_out_of_the_json_api() -> None:
    async with (
        running_smtp_sink() as sink,
        httpx.AsyncClient(base_url=sink.inspection_url, trust_env=False) as http,
    ):
        page = await http.get("/_sandbox/")
        missing = await http.get("/_sandbox/mail/99")
        openapi = (await http.get("/_sandbox/openapi.json")).json()
        listed = await http.get("/_sandbox/messages")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert '<meta http-equiv="refresh" content="5">' in page.text
    assert missing.status_code == 404
    assert "/_sandbox/" not in openapi["paths"]
    assert "/_sandbox/mail/{message_id}" not in openapi["paths"]
    assert listed.json() == []


async def test_a_long_mailbox_shows_the_newest_and_says_how_many_are_left_out() -> None:
    async with (
        running_smtp_sink() as sink,
        httpx.AsyncClient(base_url=sink.inspection_url, trust_env=False) as http,
    ):
        for number in range(1, MAX_ROWS + 6):
            sink.store.add_message(
                f"Subject: mail {number}\r\n\r\nbody\r\n".encode(),
                envelope_from="noreply@praktika.example",
                envelope_to=["client@example.org"],
            )
        page = BeautifulSoup((await http.get("/_sandbox/")).text, "html.parser")

    rows = page.select("tr.mail")
    assert len(rows) == MAX_ROWS
    assert f"mail {MAX_ROWS + 5}" in text_of(rows[0]) and "mail 6" in text_of(rows[-1])
    assert f"Mailbox ({MAX_ROWS + 5} mails, newest first)" in text_of(page)
    assert "5 older not shown here" in text_of(page)
