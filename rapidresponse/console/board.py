"""The incident board: every incident with, per layer, how many were alerted, delivered, on the way
and declined; and the news a coordinator must not miss (a report that came in since they looked).

Plain functions over a Session (no Flask). The board page and its JSON endpoint render the same
view, so what a poll brings is what a reload shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapidresponse.console.threads import (
    LayerLine,
    Summary,
    layer_figures,
    layer_lines,
    listed_incidents,
    summarize,
    yes_counts,
)
from rapidresponse.incidents.models import Incident
from rapidresponse.privacy.crypto import FieldCipher


@dataclass(frozen=True)
class Row:
    summary: Summary
    layers: list[LayerLine]


@dataclass(frozen=True)
class Board:
    open: list[Row]
    closed: list[Row]
    # The newest incident id when this was read: the page hands it back as `seen` when it looks again.
    newest: int
    # Open incidents reported after `seen`: "New report: K7, ice, zone centro."
    new: list[Summary]

    @property
    def title(self) -> str:
        """The page's title: a new report shows in the browser tab even when the page is out of view."""
        return f"({len(self.new)} new) Incidents" if self.new else "Incidents"

    @property
    def banner(self) -> str | None:
        if not self.new:
            return None
        if len(self.new) == 1:
            s = self.new[0]
            return f"New report: {s.code}, {s.tree}" + (f", zone {s.zone}." if s.zone else ".")
        return f"{len(self.new)} new reports: {', '.join(s.code for s in self.new)}."


def board(session: Session, cipher: FieldCipher, seen: int | None = None) -> Board:
    """The board. `seen` is the newest incident id the coordinator's page already showed; open
    incidents newer than it are announced. None (a first look) announces nothing."""
    open_, closed = listed_incidents(session)
    ids = [i.id for i in open_ + closed]
    yes = yes_counts(session, ids)
    figures = layer_figures(session, ids)

    def rows(listed: list[Incident]) -> list[Row]:
        return [Row(summarize(cipher, i, yes[i.id]), layer_lines(cipher, i, figures)) for i in listed]

    opened = rows(open_)
    new = [] if seen is None else [r.summary for r in opened if r.summary.id > seen]
    newest = session.scalar(select(func.max(Incident.id))) or 0
    # Reports nobody could be alerted for come first: only a coordinator can help them now.
    opened.sort(key=lambda r: not r.summary.nobody_alerted)
    return Board(open=opened, closed=rows(closed), newest=newest, new=new)
