"""Rotating DATA_KEY: every encrypted field re-encrypted, every blind index recomputed.

Run with the app stopped: DATA_KEY set to the new key and DATA_KEY_PREVIOUS to the old one, then
`rapidresponse db rotate-key`. Until it has finished, both keys decrypt (so an interrupted run is
simply run again); the blind indexes (how numbers are found) and the keyed tags (who is in which
layer, who holds which role) follow the new key only once it is done.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapidresponse.broadcasts.models import Broadcast, BroadcastReply, BroadcastTemplate, BroadcastText
from rapidresponse.campaigns.models import Campaign, CampaignTarget
from rapidresponse.console.models import Coordinator, console_phone_index, email_index
from rapidresponse.hotline.models import InboundCall, Recording, recording_sid_index
from rapidresponse.incidents.models import Incident, Participant, ThreadEvent
from rapidresponse.incidents.service import participant_tag
from rapidresponse.members import registry
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import InboundMessage, OutboundMessage, SimulatedMessage
from rapidresponse.privacy.crypto import FieldCipher

# model -> (encrypted column, the blind index of the same value or None)
ENCRYPTED: dict[Any, tuple[tuple[str, str | None], ...]] = {
    Member: (("phone_token", "phone_index"), ("name_token", None)),
    InboundMessage: (("from_token", "from_index"), ("body_token", None)),
    OutboundMessage: (("to_token", "to_index"), ("body_token", None)),
    Incident: (("reporter_token", "reporter_index"), ("text_token", None), ("plan_token", None)),
    ThreadEvent: (("body_token", None),),
    SimulatedMessage: (("phone_token", "phone_index"), ("body_token", None)),
    Coordinator: (("email_token", None), ("phone_token", None)),
    InboundCall: (("from_token", "from_index"),),
    Recording: (("sid_token", None), ("transcript_token", None)),
    Participant: (("member_token", None), ("label_token", None)),
    Broadcast: (("audience_token", None),),
    BroadcastText: (("body_token", None),),
    BroadcastReply: (("member_token", None), ("body_token", None)),
    BroadcastTemplate: (("name_token", None), ("texts_token", None)),
    Campaign: (("title_token", None), ("scripts_token", None), ("audience_token", None)),
    CampaignTarget: (("name_token", None), ("number_token", None)),
}


def rotate(session: Session, cipher: FieldCipher, batch: int = 500) -> dict[str, int]:
    """Re-encrypt every field with the cipher's current key; returns rows rewritten per table."""
    counts: dict[str, int] = {}
    for model, columns in ENCRYPTED.items():
        done, last_id = 0, 0
        while True:
            rows = session.scalars(select(model).where(model.id > last_id).order_by(model.id).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                for token_column, index_column in columns:
                    token = getattr(row, token_column)
                    if token is None:
                        continue
                    plain = cipher.decrypt(token)
                    setattr(row, token_column, cipher.encrypt(plain))
                    if index_column is not None:
                        setattr(row, index_column, cipher.blind_index(plain))
                if isinstance(row, Member):
                    registry.set_places(cipher, row)  # re-encrypts the places and recomputes the tags
                elif isinstance(row, Coordinator):
                    row.email_index = email_index(cipher, cipher.decrypt(row.email_token))
                    if row.phone_token is not None:
                        row.phone_index = console_phone_index(cipher, cipher.decrypt(row.phone_token))
                elif isinstance(row, Recording) and row.sid_token is not None:
                    row.sid_index = recording_sid_index(cipher, cipher.decrypt(row.sid_token))
                elif isinstance(row, Participant) and row.member_token is not None:
                    row.member_tag = participant_tag(cipher, row.incident_id, int(cipher.decrypt(row.member_token)))
            session.flush()
            done += len(rows)
            last_id = rows[-1].id
            session.expunge_all()
        counts[model.__tablename__] = done
    return counts
