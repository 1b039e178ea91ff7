"""Importing members from a coordinator's CSV file: every row checked before anything is written.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first member row 2. A file
with any rejected row imports nothing, so a coordinator fixes the file and runs it again rather
than working out which half went in. Reject reasons never contain a phone number or a name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapidresponse.i18n import LANGUAGES, render
from rapidresponse.members import registry
from rapidresponse.members.models import Channel, Member, MemberStatus
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.trees.model import Trees

COLUMNS = ("phone", "name", "language", "zone", "roles", "trees", "channel")
NAME_MAX = 100
OPTED_OUT = "opted out by texting STOP; they must text START themselves"


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, no header, no phone column)."""


class RowsRejectedError(Exception):
    """Some rows were refused; nothing was imported."""

    def __init__(self, rejects: Sequence[Reject]) -> None:
        super().__init__(f"{len(rejects)} rows rejected")
        self.rejects = list(rejects)


@dataclass(frozen=True)
class Reject:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.column}: {self.reason}"


@dataclass(frozen=True)
class Record:
    """One non-blank row of the file, as typed (values stripped)."""

    row: int
    values: Mapping[str, str]
    extra_cells: bool = False


@dataclass(frozen=True)
class MemberRow:
    """One checked row. Only the columns the file has are applied to an existing member."""

    row: int
    phone: str  # E.164
    columns: frozenset[str]
    name: str | None = None
    language: str = "en"
    zone: str | None = None
    roles: str = "member"
    trees: Mapping[str, int] = field(default_factory=dict)
    channel: Channel = Channel.SMS


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    welcome_ids: list[int] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


def read_csv(path: Path) -> tuple[frozenset[str], list[Record]]:
    """The file's columns and its non-blank rows."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a directory, not a CSV file") from None
    except PermissionError:
        raise ImportFileError(f"{path}: not allowed to read it") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    return parse_csv(raw, label=str(path))


def parse_csv(raw: bytes, *, label: str) -> tuple[frozenset[str], list[Record]]:
    """A CSV file's bytes (from disk or an upload) -> its columns and non-blank rows; errors name `label`."""
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark before the header.
        records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    except UnicodeDecodeError:
        raise ImportFileError(f"{label}: not UTF-8 text; save the sheet as CSV UTF-8") from None
    except csv.Error as exc:
        raise ImportFileError(f"{label}: not a readable CSV file ({exc})") from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise ImportFileError(f"{label}: empty; the first row must be a header like {','.join(COLUMNS)}")
    header = [cell.strip().lower() for cell in records[0]]
    # Checked before anything from the header is echoed: without a phone column the "header" may be
    # a member's row.
    if "phone" not in header:
        raise ImportFileError(f"{label}: the header row has no phone column (columns: {','.join(COLUMNS)})")
    for name in header:
        if name and name not in COLUMNS:
            raise ImportFileError(f"{label}: unknown column {name[:40]!r} (columns: {','.join(COLUMNS)})")
        if name and header.count(name) > 1:
            raise ImportFileError(f"{label}: the column {name!r} appears twice")
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        values = {name: cell.strip() for name, cell in zip(header, record, strict=False) if name}
        extra = any(cell.strip() for cell in record[len(header):])
        rows.append(Record(number, values, extra))
    return frozenset(name for name in header if name), rows


def parse_trees_cell(raw: str, trees: Trees) -> dict[str, int]:
    """'ice:1;eviction:2' -> {'ice': 1, 'eviction': 2}; ValueError says what is wrong."""
    found: dict[str, int] = {}
    for item in raw.replace(",", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, layer_text = item.partition(":")
        name = name.strip().lower()
        if not sep or not name or not layer_text.strip().isdigit():
            raise ValueError(f"{item[:40]!r} is not tree:layer, e.g. ice:1;eviction:2")
        if name not in trees:
            raise ValueError(f"no tree {name[:32]!r}; trees are {', '.join(sorted(trees.trees))}")
        number = int(layer_text)
        tree = trees.get(name)
        if tree.layer(number) is None:
            raise ValueError(f"{name} has layers 1 to {len(tree.layers)}, not {number}")
        if name in found:
            raise ValueError(f"{name} is given twice; a member is in one layer per tree")
        found[name] = number
    return found


def parse_rows(columns: frozenset[str], records: Iterable[Record], *, region: str,
               trees: Trees) -> tuple[list[MemberRow], list[Reject]]:
    """Check every row (pure). Returns the good rows and every reason a row was refused."""
    good: list[MemberRow] = []
    rejects: list[Reject] = []
    first_row_of: dict[str, int] = {}
    for record in records:
        number, values = record.row, record.values
        problems: list[Reject] = []
        if record.extra_cells:
            problems.append(Reject(number, "row", "more cells than the header has columns"))
        phone = ""
        try:
            phone = normalize_phone(values.get("phone", ""), region)
        except InvalidNumberError as exc:
            problems.append(Reject(number, "phone", str(exc)))
        else:
            if phone in first_row_of:
                problems.append(Reject(number, "phone", f"same number as row {first_row_of[phone]}"))
            else:
                first_row_of[phone] = number
        details, details_problems = parse_details(number, values, trees=trees)
        problems.extend(details_problems)
        if problems:
            rejects.extend(problems)
            continue
        good.append(MemberRow(row=number, phone=phone, columns=columns, **details))
    return good, rejects


def parse_details(number: int, values: Mapping[str, str], *, trees: Trees) -> tuple[dict[str, Any], list[Reject]]:
    """Check a row's cells other than the phone (pure): name, language, zone, roles, trees, channel. Returns the
    MemberRow fields they give and every reason one is refused (the console's edit form uses it too)."""
    problems: list[Reject] = []
    name = values.get("name", "") or None
    if name is not None and len(name) > NAME_MAX:
        problems.append(Reject(number, "name", f"longer than {NAME_MAX} characters"))
    language = values.get("language", "").lower() or "en"
    if language not in LANGUAGES:
        problems.append(Reject(number, "language", f"must be one of {', '.join(LANGUAGES)}"))
    zone: str | None = None
    if values.get("zone"):
        try:
            zone = registry.normalize_zone(values["zone"])
        except registry.MemberError as exc:
            problems.append(Reject(number, "zone", str(exc)))
    roles = "member"
    try:
        roles = registry.parse_roles(values.get("roles", ""))
    except registry.MemberError as exc:
        problems.append(Reject(number, "roles", str(exc)))
    memberships: dict[str, int] = {}
    try:
        memberships = parse_trees_cell(values.get("trees", ""), trees)
    except ValueError as exc:
        problems.append(Reject(number, "trees", str(exc)))
    channel = Channel.SMS
    try:
        channel = Channel(values.get("channel", "").lower() or Channel.SMS.value)
    except ValueError:
        problems.append(Reject(number, "channel", f"must be one of {', '.join(c.value for c in Channel)}"))
    return {"name": name, "language": language, "zone": zone, "roles": roles, "trees": memberships,
            "channel": channel}, problems


def existing_members(session: Session, cipher: FieldCipher, phones: Sequence[str]) -> dict[str, Member]:
    """Members already registered under these numbers, by number."""
    by_index = {cipher.blind_index(phone): phone for phone in phones}
    found: dict[str, Member] = {}
    indexes = list(by_index)
    for start in range(0, len(indexes), 500):
        chunk = indexes[start : start + 500]
        for member in session.scalars(select(Member).where(Member.phone_index.in_(chunk))):
            found[by_index[member.phone_index]] = member
    return found


def opted_out(rows: Sequence[MemberRow], existing: Mapping[str, Member]) -> list[Reject]:
    """Rows for numbers that texted STOP: an import never puts them back."""
    return [Reject(row.row, "phone", OPTED_OUT) for row in rows
            if row.phone in existing and existing[row.phone].status == MemberStatus.OPTED_OUT.value]


@dataclass(frozen=True)
class Preview:
    """What an import would do, worked out without writing anything."""

    rows: list[MemberRow]
    rejects: list[Reject]
    new: int
    updated: int

    @property
    def rejected_rows(self) -> int:
        return len({reject.row for reject in self.rejects})


def preview(session: Session, cipher: FieldCipher, raw: bytes, *, label: str, region: str,
            trees: Trees) -> Preview:
    """Every row checked (as `apply` would, opted-out numbers included); nothing is written."""
    columns, records = parse_csv(raw, label=label)
    rows, rejects = parse_rows(columns, records, region=region, trees=trees)
    if not rows and not rejects:
        raise ImportFileError(f"{label}: no members in it, only the header row")
    existing = existing_members(session, cipher, [row.phone for row in rows])
    rejects = sorted(rejects + opted_out(rows, existing), key=lambda r: r.row)
    updated = sum(1 for row in rows if row.phone in existing)
    return Preview(rows=rows, rejects=rejects, new=len(rows) - updated, updated=updated)


def apply(session: Session, cipher: FieldCipher, rows: Sequence[MemberRow], *, now: datetime,
          welcome: bool = False) -> ImportResult:
    """Create or update a member per row; raises RowsRejectedError (writing nothing) if any is refused.

    Imported members are active at once: the coordinator vouches for their consent. Someone who
    texted STOP is never put back by an import; only their own START does that. With `welcome`,
    everyone who becomes active through this import gets one welcome text (recorded, not sent).
    """
    existing = existing_members(session, cipher, [row.phone for row in rows])
    rejects = opted_out(rows, existing)
    if rejects:
        raise RowsRejectedError(rejects)
    result = ImportResult()
    newly_active: list[tuple[Member, str]] = []
    for row in rows:
        member = existing.get(row.phone)
        if member is None:
            member = registry.new_member(cipher, row.phone, language=row.language, zone=row.zone,
                                         status=MemberStatus.ACTIVE, roles=row.roles, name=row.name,
                                         trees=dict(row.trees))
            member.consented_at = now
            member.channel = row.channel.value
            session.add(member)
            result.created += 1
            newly_active.append((member, row.phone))
            continue
        update_member(member, row, cipher)
        if not member.is_active:
            member.status = MemberStatus.ACTIVE.value
            member.consented_at = now
            member.opted_out_at = None
            newly_active.append((member, row.phone))
        result.updated += 1
    session.flush()
    if welcome:
        texts = [
            outbox.Text(to=phone, body=render("welcome.imported", member.language), purpose=Purpose.WELCOME,
                        dedupe_key=f"welcome:{member.id}", member_id=member.id)
            for member, phone in newly_active
            if member.reachable
        ]
        result.welcome_ids = outbox.record(session, cipher, texts, now)
    return result


def update_member(member: Member, row: MemberRow, cipher: FieldCipher) -> None:
    # A column the file does not have leaves that field alone; an empty cell clears it to the default.
    if "name" in row.columns:
        member.name_token = cipher.encrypt(row.name) if row.name else None
    if "language" in row.columns:
        member.language = row.language
    if "zone" in row.columns:
        member.zone = row.zone
    if "channel" in row.columns:
        member.channel = row.channel.value
    registry.set_places(cipher, member, roles=row.roles if "roles" in row.columns else None,
                        trees=dict(row.trees) if "trees" in row.columns else None)
