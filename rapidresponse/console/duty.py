"""Console: duty and load. Each layer's people on duty now (paused, short of its quorum), and
who carried the alerts of the last 30 days (counts only), so coordinators can see burnout coming.
Registered on the console blueprint; the counting is duty/coverage.py and duty/service.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import render_template
from sqlalchemy import func, select

from rapidresponse.console import auth
from rapidresponse.console.routes import _services, bp
from rapidresponse.db import utcnow
from rapidresponse.duty import coverage
from rapidresponse.duty import service as duty
from rapidresponse.duty.models import MemberLoad
from rapidresponse.duty.spans import local_time
from rapidresponse.members import directory
from rapidresponse.members.models import Member

BUSIEST = 50


@dataclass(frozen=True)
class LoadLine:
    member: directory.MemberView
    load: duty.Load
    paused_until: str | None
    hours: str | None


@bp.context_processor
def _duty_helpers() -> dict[str, Any]:
    if auth.current_coordinator() is None:
        return {}
    svc = _services()

    def short_layers() -> list[str]:
        """"ice verifiers: 1 on duty, quorum 2" for each layer the sweep last found short."""
        with svc.db.session() as session:
            rows = coverage.short_layers(session)
        lines = []
        for row in rows:
            tree = svc.trees.trees.get(row.tree)
            layer = tree.layer(row.layer) if tree else None
            name = f"{row.tree} {layer.name}" if layer else f"{row.tree} layer {row.layer}"
            lines.append(f"{name}: {row.on_duty} on duty, quorum {row.quorum}")
        return lines

    return {"short_layers": short_layers}


def duty_facts(member: Member, now: datetime, zone: Any) -> dict[str, str | None]:
    """A member's pause and hours as the console shows them."""
    paused = member.paused_until if member.paused_until and member.paused_until > now else None
    hours = duty.hours_of(member)
    return {"paused_until": local_time(paused, zone, "en") if paused else None,
            "hours": str(hours) if hours else None}


@bp.get("/duty")
@auth.login_required
def duty_page() -> str:
    svc = _services()
    now = utcnow()
    with svc.db.session() as session:
        layers = coverage.count_all(session, svc.cipher, svc.trees, now)
        since = duty.first_bucket(now)
        busiest = list(session.scalars(
            select(MemberLoad.member_id).where(MemberLoad.bucket >= since).group_by(MemberLoad.member_id)
            .order_by(func.sum(MemberLoad.alerts).desc(), MemberLoad.member_id).limit(BUSIEST)).all())
        loads = duty.loads(session, busiest, now)
        members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(busiest)))} if busiest else {}
        lines = [LoadLine(directory.view(svc.cipher, members[i]), loads.get(i, duty.Load()),
                          **duty_facts(members[i], now, svc.trees.zone_info))
                 for i in busiest if i in members]
    return render_template("console/duty.html", layers=layers, lines=lines, time_zone=svc.trees.time_zone,
                           window_days=duty.LOAD_WINDOW_DAYS)
