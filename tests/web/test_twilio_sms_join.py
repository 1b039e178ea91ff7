"""Joining by text: JOIN / UNIRSE, double opt-in, and the webhook's signature and idempotency."""

from __future__ import annotations

from tests.conftest import Phone, member, signed_post


def test_join_then_yes_makes_an_active_member(client, svc):
    """JOIN asks to confirm; YES confirms; the member is active with consent recorded."""
    phone = Phone(client, "+12125550101")
    assert "reply YES" in phone.reply_to("join")
    assert member(svc, "+12125550101").status == "pending"
    assert "You're in" in phone.reply_to("YES")
    found = member(svc, "+12125550101")
    assert found.status == "active" and found.consented_at is not None


def test_unirse_with_zone_answers_in_spanish(client, svc):
    """UNIRSE centro joins in Spanish with the zone; SÍ confirms."""
    phone = Phone(client, "(212) 555-0102")
    assert "SI" in phone.reply_to("  Unirse   Centro ")
    assert "centro" in phone.reply_to("Sí")
    found = member(svc, "+12125550102")
    assert (found.language, found.zone, found.status) == ("es", "centro", "active")


def test_forged_signature_is_refused_and_nothing_is_stored(client, svc):
    """A request signed with the wrong token gets 403 and leaves no trace."""
    params = {"MessageSid": "SM1", "From": "+12125550103", "Body": "JOIN"}
    response = signed_post(client, "/twilio/sms", params, token="wrong-token")
    assert response.status_code == 403
    missing = client.post("/twilio/sms", data=params)
    assert missing.status_code == 403
    assert member(svc, "+12125550103") is None


def test_duplicate_message_sid_acts_once(client, svc):
    """Twilio retrying the same MessageSid gets an empty answer and changes nothing."""
    phone = Phone(client, "+12125550104")
    phone.text("JOIN", sid="SMdup")
    first = phone.text("YES", sid="SMdup2")
    assert b"You're in" in first.data
    again = phone.text("YES", sid="SMdup2")
    assert again.status_code == 200 and b"<Message" not in again.data
