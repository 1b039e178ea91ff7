"""Database.autocommit_session: each statement is committed as it runs, so what a hotline step
stored stays stored whatever fails after it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rapidresponse.db import utcnow
from rapidresponse.hotline import service as hotline
from rapidresponse.hotline.models import InboundCall


def calls(svc) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboundCall)))


def test_a_call_stored_in_autocommit_stays_when_the_step_fails_after_it(svc):
    with pytest.raises(RuntimeError), svc.db.autocommit_session() as session:
        hotline.store_call(session, svc.cipher, "CA" + "1" * 32, "+12125550101", utcnow())
        raise RuntimeError("the step failed after storing the call")
    assert calls(svc) == 1


def test_a_plain_session_rolls_back_what_it_stored_when_it_fails(svc):
    with pytest.raises(RuntimeError), svc.db.session() as session:
        hotline.store_call(session, svc.cipher, "CA" + "2" * 32, "+12125550102", utcnow())
        raise RuntimeError("failed before the commit")
    assert calls(svc) == 0
