"""A stored text whose handling never ran (a crash after the commit) is answered once, by text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rapidresponse.inbound import service as inbound
from rapidresponse.messaging.models import OutboundMessage, Purpose

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_stored_text_is_answered_by_text_once(svc, monkeypatch):
    """The sweep's path reads the stored number and text back (decrypting them), replies by SMS to
    that number in the webhook's words, and a second attempt does nothing."""
    text = inbound.InboundText(message_sid="SM" + "d" * 32, from_number="+12125550101", body="HELP")
    answered = inbound.receive(svc, inbound.InboundText("SM" + "e" * 32, "+12125550102", "HELP"), NOW)
    monkeypatch.setattr(inbound, "handle_stored", lambda *args, **kwargs: inbound.Handled())
    inbound.receive(svc, text, NOW)  # stored, then "crashed": never handled
    monkeypatch.undo()
    handled = inbound.handle_stored(svc, text.message_sid, NOW, reply_by_text=True)
    assert handled.reply is None and len(handled.after.send_ids) == 1
    with svc.db.session() as session:
        reply = session.scalar(select(OutboundMessage).where(OutboundMessage.id == handled.after.send_ids[0]))
        assert reply is not None and reply.purpose == Purpose.REPLY.value
        assert svc.cipher.decrypt(reply.to_token) == "+12125550101"
        assert svc.cipher.decrypt(reply.body_token) == answered.reply
    again = inbound.handle_stored(svc, text.message_sid, NOW, reply_by_text=True)
    assert again.duplicate and not again.after.send_ids


def test_a_text_whose_handling_fails_stays_stored_for_the_sweep(svc, monkeypatch):
    """Handling runs on the connection the text was stored on, in a transaction of its own: when it
    fails, what it did is rolled back, the stored text is not, and the sweep answers it once."""
    text = inbound.InboundText(message_sid="SM" + "f" * 32, from_number="+12125550103", body="HELP")

    def fails(self, command):
        raise RuntimeError("handling failed")

    monkeypatch.setattr(inbound.Conversation, "handle", fails)
    with pytest.raises(RuntimeError):
        inbound.receive(svc, text, NOW)
    monkeypatch.undo()
    with svc.db.session() as session:
        assert inbound.unhandled(session, NOW) == [text.message_sid]
        assert session.scalars(select(OutboundMessage)).all() == []
    handled = inbound.handle_stored(svc, text.message_sid, NOW, reply_by_text=True)
    assert handled.reply is None and len(handled.after.send_ids) == 1
    assert inbound.handle_stored(svc, text.message_sid, NOW, reply_by_text=True).duplicate
