"""What a hostile or broken sender can do to /twilio/sms: forged or replayed requests, odd bodies and
numbers, floods. The webhook never answers 500, never logs a whole number, and never stores one
(or a message body) readable at rest.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.models import InboundMessage
from rapidresponse.services import Services
from tests.conftest import (
    ACCOUNT_SID,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    Phone,
    add_member,
    member,
    sign,
    signed_post,
)

STRANGER = "+12125550130"
MEMBER = "+12125550131"
SHORT_HELP = "Rapid Response: text HELP for info"
SHORT_HELP_ES = "Rapid Response: escribe AYUDA para info"
HELP = "Rapid Response: alerts for ICE"


def params(body: str = "HELP", sender: str = STRANGER, sid: str | None = None) -> dict[str, str]:
    return {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": sender, "To": FROM_NUMBER, "Body": body,
            "AccountSid": ACCOUNT_SID, "NumMedia": "0"}


def inbound_count(svc: Services) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def stored_bodies(svc: Services) -> list[str]:
    with svc.db.session() as session:
        tokens = session.scalars(select(InboundMessage.body_token).order_by(InboundMessage.id)).all()
    return [svc.cipher.decrypt(token) for token in tokens]


def messages(xml: bytes) -> list[str]:
    """The reply texts of a TwiML answer, which must parse as XML with a <Response> root."""
    root = ElementTree.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


# --- signatures and malformed requests -------------------------------------------------------------

def test_forged_signature_is_refused_and_nothing_is_stored(client, svc):
    """A request signed with another auth token gets 403 and stores nothing."""
    response = signed_post(client, "/twilio/sms", params("JOIN"), token="not-our-token")
    assert response.status_code == 403
    assert inbound_count(svc) == 0 and member(svc, STRANGER) is None


@pytest.mark.parametrize("signature", [None, "", "garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="])
def test_missing_or_garbage_signature_is_refused(client, svc, signature):
    """No signature, or one that is not Twilio's, gets 403 and stores nothing."""
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = client.post("/twilio/sms", data=params("JOIN"), headers=headers)
    assert response.status_code == 403
    assert inbound_count(svc) == 0


@pytest.mark.parametrize("signed_url", [
    PUBLIC_BASE_URL + "/twilio/status",
    PUBLIC_BASE_URL + "/twilio/sms?extra=1",
    "http://localhost/twilio/sms",
    "https://evil.example.com/twilio/sms",
])
def test_signature_for_another_url_is_refused(client, svc, signed_url):
    """A valid signature for a different URL cannot be replayed against /twilio/sms."""
    form = params("JOIN")
    response = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": sign(signed_url, form)})
    assert response.status_code == 403
    assert inbound_count(svc) == 0


@pytest.mark.parametrize("change", [
    {"Body": "STOP"}, {"From": "+12125550139"}, {"MessageSid": "SMother"}, {"Extra": "1"},
])
def test_signature_for_other_parameters_is_refused(client, svc, change):
    """Changing, or adding, any parameter after signing breaks the signature: 403, nothing stored."""
    form = params("JOIN")
    signature = sign(PUBLIC_BASE_URL + "/twilio/sms", form)
    response = client.post("/twilio/sms", data={**form, **change}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert inbound_count(svc) == 0


@pytest.mark.parametrize("missing", ["MessageSid", "From", "Body"])
def test_missing_field_is_a_bad_request(client, svc, missing):
    """A signed request without MessageSid, From or Body gets 400 and stores nothing."""
    form = params("JOIN")
    del form[missing]
    assert signed_post(client, "/twilio/sms", form).status_code == 400
    assert inbound_count(svc) == 0


def test_overlong_message_sid_is_a_bad_request(client, svc):
    """A MessageSid longer than any Twilio SID is refused before it reaches the database."""
    assert signed_post(client, "/twilio/sms", params(sid="SM" + "a" * 100)).status_code == 400
    assert inbound_count(svc) == 0


def test_duplicate_message_sid_acts_once(client, svc):
    """Two REPORTs with the same MessageSid open one incident; the retry gets an empty answer."""
    phone = Phone(client, STRANGER)
    first = phone.text("REPORT two vans at 5th and Main", sid="SMsame")
    second = phone.text("REPORT two vans at 5th and Main", sid="SMsame")
    assert messages(first.data) and messages(second.data) == []
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
    assert inbound_count(svc) == 1


# --- hostile bodies --------------------------------------------------------------------------------

HOSTILE_BODIES = {
    "empty": "",
    "spaces": "   \t  ",
    "1600 chars": "x" * 1600,
    "5000 chars": "ICE " + "y" * 4996,
    "emoji": "🚨🚨 ICE 👮‍♂️ at 5th 🏠",
    "emoji only": "🙏",
    "arabic": "مساعدة الشرطة في الشارع",
    "hebrew": "עזרה משטרה ברחוב",
    "rtl marks": "\u202eICE\u202c 5th and Main \u200f",
    "nul": "HE\x00LP",
    "control": "\x01\x02\x1b[31mREPORT\x07 vans\x7f",
    "crlf": "ICE\r\n5th and Main\r\n",
    "sql": "'; DROP TABLE members; --",
    "sql report": "REPORT 1' OR '1'='1; DELETE FROM incidents",
    "xml": "<Response>&",
    "xml report": "ICE <Message>hi</Message> & </Response><![CDATA[x]]>",
    "entity": "&amp; &#0; &lt;",
    "format": "%s %(x)s {code} {0}",
    "surrogate-ish": "\ufffe\uffff",
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("sender", [STRANGER, MEMBER])
def test_hostile_body_is_stored_and_answered_with_wellformed_twiml(client, svc, body, sender):
    """Whatever the body, the webhook answers 200 with parseable TwiML and keeps the text (truncated)."""
    add_member(svc, MEMBER, roles="responder", trees={"ice": 1})
    response = Phone(client, sender).text(body)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    messages(response.data)
    [stored] = stored_bodies(svc)
    assert stored == body[:1600]


def test_long_body_is_truncated_to_one_twilio_message(client, svc):
    """A 5,000-character report is kept as its first 1,600 characters and still opens an incident."""
    reply = Phone(client, STRANGER).reply_to("ICE " + "z" * 4996)
    assert len(stored_bodies(svc)[0]) == 1600
    with svc.db.session() as session:
        incident = session.scalars(select(Incident)).one()
        assert len(svc.cipher.decrypt(incident.text_token)) == 1600 - len("ICE ")
    assert incident.code in reply


def test_markup_in_a_report_never_leaks_into_twiml(client, svc):
    """A report full of TwiML tags gets one reply <Message> with only our own text."""
    response = Phone(client, STRANGER).text("ICE <Message>pwned</Message></Response>&")
    [reply] = messages(response.data)
    assert "pwned" not in reply and "ref " in reply


# --- numbers in From -------------------------------------------------------------------------------

@pytest.mark.parametrize(("sender", "e164"), [
    ("+1 (212) 555-0133", "+12125550133"),
    ("2125550134", "+12125550134"),
    ("(212) 555-0135", "+12125550135"),
    ("212.555.0136", "+12125550136"),
    (" +12125550137 ", "+12125550137"),
])
def test_number_in_any_format_is_the_same_member(client, svc, sender, e164):
    """However Twilio or a proxy formats From, JOIN creates the member under the E.164 number."""
    assert "reply YES" in Phone(client, sender).reply_to("JOIN")
    assert member(svc, e164) is not None
    assert "You're in" in Phone(client, e164).reply_to("YES")


@pytest.mark.parametrize("sender", [
    "abc", "tel:+1-garbage", "tel:;;;", "+1", "12345", "+999999999999999", "+1 212 555 01" + "9" * 40,
    "whatsapp:", "<script>", "\x00", " ",
])
def test_unusable_from_is_ignored_with_empty_twiml(client, svc, sender):
    """A From that is no phone number gets 200 and empty TwiML; nothing is stored or answered."""
    response = signed_post(client, "/twilio/sms", params("JOIN", sender=sender))
    assert response.status_code == 200
    assert messages(response.data) == []
    assert inbound_count(svc) == 0


def test_empty_from_is_ignored_with_empty_twiml(client, svc):
    """An empty From (present but blank) is treated like any unusable number: 200, empty TwiML."""
    response = signed_post(client, "/twilio/sms", params("JOIN", sender=""))
    assert response.status_code == 200
    assert messages(response.data) == []
    assert inbound_count(svc) == 0


# --- nothing personal in the logs ------------------------------------------------------------------

LOGGED_SENDERS = ["+1 (212) 555-0133", "2125550134", "+12125550135", "tel:+12125550136", "+1 212 555 0138xyz"]


@pytest.mark.parametrize("sender", LOGGED_SENDERS)
def test_no_log_record_holds_a_whole_number(client, svc, caplog, sender):
    """From JOIN to STOP to a report, no log record at any level shows a sender's whole number."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every SQL statement and its parameters
    add_member(svc, MEMBER, roles="responder", trees={"ice": 1})
    for body in ["JOIN", "YES", "HELP", "nonsense", "ICE 5th and Main", "ZONE east", "STOP", "START"]:
        assert signed_post(client, "/twilio/sms", params(body, sender=sender)).status_code == 200
    signed_post(client, "/twilio/sms", params("JOIN", sender=sender), token="forged")
    national = re.sub(r"\D", "", sender)[-10:]
    assert any(record.name.startswith("sqlalchemy") for record in caplog.records)
    forms = {sender.strip(), national, "+1" + national, f"({national[:3]}) {national[3:6]}-{national[6:]}",
             f"{national[3:6]}-{national[6:]}", national[3:]}
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.args) + " " + (record.exc_text or "")
        leaked = [form for form in forms if form in text]
        assert not leaked, (record.name, record.levelname, leaked)


def test_unusable_number_is_logged_masked(client, svc, caplog):
    """An ignored sender is logged, with at most the last four digits of what they sent."""
    caplog.set_level(logging.INFO)
    signed_post(client, "/twilio/sms", params("JOIN", sender="+1 212 555 0138xyz"))
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert ignored and all("2125550138" not in re.sub(r"\D", "", line) for line in ignored)


# --- reply caps ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("nonsense", "short_help"), [
    ("hello?", SHORT_HELP), ("YES", SHORT_HELP), ("START", SHORT_HELP), ("K9 yes", SHORT_HELP),
    ("CONFIRM", SHORT_HELP), ("SI", SHORT_HELP_ES), ("hola, qué es esto", SHORT_HELP),
])
def test_stranger_nonsense_gets_short_help_three_times_a_day(client, svc, nonsense, short_help):
    """A stranger texting things we cannot act on gets the short help at most 3 times, then silence."""
    phone = Phone(client, STRANGER)
    replies = [phone.reply_to(nonsense) for _ in range(6)]
    assert [short_help in reply for reply in replies] == [True] * 3 + [False] * 3
    assert replies[3:] == [""] * 3
    assert member(svc, STRANGER) is None


def test_help_still_answers_after_the_cap(client, svc):
    """Once the short help is capped, HELP and AYUDA still get the full help text."""
    phone = Phone(client, STRANGER)
    for _ in range(4):
        phone.reply_to("what is this")
    assert phone.reply_to("what is this") == ""
    assert HELP in phone.reply_to("HELP")
    assert "alertas de ICE" in phone.reply_to("AYUDA")


def test_cap_is_per_number(client, svc):
    """One number hitting the cap does not silence another."""
    noisy = Phone(client, STRANGER)
    for _ in range(4):
        noisy.reply_to("spam")
    assert SHORT_HELP in Phone(client, "+12125550139").reply_to("spam")


def test_report_is_never_capped(client, svc):
    """A stranger who used up the short help can still report: reports always get a reference code."""
    phone = Phone(client, STRANGER)
    for _ in range(4):
        phone.reply_to("hello")
    assert "ref " in phone.reply_to("ICE 5th and Main")


# --- data at rest ----------------------------------------------------------------------------------

def database_bytes(database_url: str) -> bytes:
    base = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(path.read_bytes() for path in sorted(base.parent.glob(base.name + "*")))


def test_numbers_and_bodies_are_not_readable_at_rest(client, svc, database_url):
    """After JOIN, YES and a report, the database file holds neither the number nor what was texted."""
    if not database_url.startswith("sqlite"):
        pytest.skip("byte check is for the SQLite file only")
    phone = Phone(client, "+1 (212) 555-0136")
    phone.reply_to("JOIN")
    phone.reply_to("YES")
    phone.reply_to("ICE Zyxwvut corner of Quinceañera and Elm")
    svc.db.engine.dispose()
    raw = database_bytes(database_url)
    assert raw.startswith(b"SQLite format 3")
    for needle in ["2125550136", "212-555-0136", "555-0136", "5550136", "JOIN", "Zyxwvut", "Quincea",
                   "reply YES to confirm", "Your report is recorded"]:
        assert needle.encode() not in raw, needle
        assert needle.encode("utf-16-le") not in raw, needle
