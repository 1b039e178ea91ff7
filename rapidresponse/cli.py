"""The `rapidresponse` command: db upgrade/purge/shred/rotate-key, members import/list/remove,
coordinators create/invite/reset-password/disable/enable/unlock, trees show.

A bad setting stops any command with one line naming the variable, never a stack trace.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from rapidresponse import audit
from rapidresponse.console.accounts import EMAIL, PASSWORD_MIN
from rapidresponse.console.models import Coordinator, email_index, new_coordinator
from rapidresponse.db import Database, utcnow
from rapidresponse.duty import coverage
from rapidresponse.members import directory, importer, registry
from rapidresponse.members.models import Member, MemberStatus, MemberTag
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.services import Services
from rapidresponse.settings import Settings, SettingsError
from rapidresponse.trees.model import TreeConfigError


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


def settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"rapidresponse: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def app_or_exit() -> Any:
    """The WSGI app, or one line on stderr naming the bad setting and exit status 2."""
    from rapidresponse import create_app
    from rapidresponse.logs import configure_logging

    configure_logging()
    settings = settings_or_exit()
    for note in settings.startup_notes:
        logging.getLogger("rapidresponse").warning(note)
    try:
        return create_app(settings)
    except TreeConfigError as exc:
        print(f"rapidresponse: TREES_FILE: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except SettingsError as exc:  # the key check: DATA_KEY does not open this database
        print(f"rapidresponse: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (OperationalError, ProgrammingError) as exc:
        print(f"rapidresponse: {database_problem(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def db_upgrade(database_url: str, cipher: FieldCipher | None = None) -> None:
    """Apply every Alembic migration to the database (the key check is the caller's: see main).

    The cipher lets a migration encrypt what older versions kept in clear; without one, only a
    database with nothing to convert can be upgraded."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    config.attributes["cipher"] = cipher
    command.upgrade(config, "head")


def services_or_exit(settings: Settings) -> Services:
    """The process's services, or one line on stderr about the trees file and exit status 2."""
    from rapidresponse.services import build_services

    try:
        return build_services(settings)
    except TreeConfigError as exc:
        print(f"rapidresponse: TREES_FILE: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def key_check_or_exit(settings: Settings, db: Database | None = None, *, rotating: bool = False) -> None:
    """One line naming DATA_KEY and exit status 2 when it does not open this database."""
    from rapidresponse.privacy.keycheck import KeyMismatchError, check

    own = db is None
    database = db or Database(settings.database_url)
    try:
        check(database, settings, rotating=rotating)
    except KeyMismatchError as exc:
        print(f"rapidresponse: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if own:
            database.engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rapidresponse", description=__doc__)
    commands = parser.add_subparsers(dest="group", required=True)
    db = commands.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="apply migrations")
    db.add_parser("rotate-key", help="re-encrypt everything with DATA_KEY (the old key in DATA_KEY_PREVIOUS)")
    purge = db.add_parser("purge", help="delete closed incidents and messages older than RETENTION_DAYS")
    purge.add_argument("--days", type=int, default=None, help="override RETENTION_DAYS for this run")
    shred = db.add_parser(
        "shred", help="delete every incident, thread and message now, then compact the database",
        description="For when the organisation itself is raided. Asks you to type SHRED first. Members "
                    "are kept (a STOP stays honoured) unless --members is given.")
    shred.add_argument("--members", action="store_true", help="delete every member as well")
    shred.add_argument("--key-file", action="store_true",
                       help="also overwrite and remove the DATA_KEY_FILE, so no copy of the database "
                            "(a backup, a seized disk) can be read again")

    members = commands.add_parser("members", help="members and their places in the trees")
    member_commands = members.add_subparsers(dest="command", required=True)
    imports = member_commands.add_parser(
        "import", help="add or update members from a CSV file",
        description="Columns: phone,name,language,zone,roles,trees (a header row is required; only phone "
                    "must be there). roles like responder;coordinator, trees like ice:1;eviction:2. Every "
                    "row is checked first: if any is rejected, nothing is imported. An existing member is "
                    "updated in the columns the file has; someone who texted STOP is never re-added.")
    imports.add_argument("file", type=Path, metavar="FILE.csv")
    imports.add_argument("--welcome", action="store_true",
                         help="text a welcome to each member the import makes active")
    listing = member_commands.add_parser("list", help="list members (numbers masked, no names)")
    listing.add_argument("--tree", help="only members of this tree")
    listing.add_argument("--status", choices=[s.value for s in MemberStatus],
                         help="only members with this status")
    remove = member_commands.add_parser("remove", help="delete a member and their tree memberships")
    remove.add_argument("phone", metavar="PHONE")

    coordinators = commands.add_parser("coordinators", help="people who sign in to the web console")
    coordinator_commands = coordinators.add_subparsers(dest="command", required=True)
    create = coordinator_commands.add_parser("create", help="create a console sign-in")
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--admin", action="store_true",
                        help="an admin: manages coordinators and members, exports, sees the audit log")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")

    invite = coordinator_commands.add_parser(
        "invite", help="make a sign-in with no password yet and print its one-time link (72 h)")
    invite.add_argument("email", metavar="EMAIL")
    invite.add_argument("--admin", action="store_true", help="an admin rather than a coordinator")
    reset = coordinator_commands.add_parser(
        "reset-password", help="end their sessions, stop the old password, print a one-time link (24 h)")
    reset.add_argument("email", metavar="EMAIL")
    disable = coordinator_commands.add_parser("disable", help="stop a sign-in and end its sessions")
    disable.add_argument("email", metavar="EMAIL")
    enable = coordinator_commands.add_parser("enable", help="let a disabled sign-in in again")
    enable.add_argument("email", metavar="EMAIL")

    phone = coordinator_commands.add_parser(
        "phone", help="set a coordinator's own phone: calling the hotline from it opens the coordinator menu")
    phone.add_argument("email", metavar="EMAIL")
    phone.add_argument("phone", metavar="PHONE", nargs="?", help="their number, e.g. +12125550123")
    phone.add_argument("--clear", action="store_true", help="forget their phone")

    unlock = coordinator_commands.add_parser(
        "unlock", help="clear failed sign-ins counted against a coordinator's email (from any address)")
    unlock.add_argument("email", metavar="EMAIL")

    trees = commands.add_parser("trees", help="the phone trees in TREES_FILE")
    tree_commands = trees.add_subparsers(dest="command", required=True)
    tree_commands.add_parser("show", help="each tree, its layers and how many active members are in each")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_or_exit()
    try:
        if args.group == "db" and args.command == "upgrade":
            if settings.database_url.startswith("sqlite:///"):
                from pathlib import Path

                Path(settings.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            old_keys = [str(settings.data_key_previous)] if settings.data_key_previous else []
            db_upgrade(settings.database_url, FieldCipher(str(settings.data_key), *old_keys))
            key_check_or_exit(settings, rotating=True)
            print("database is up to date")
            return 0
        handler = COMMANDS[(args.group, args.command)]
        svc = services_or_exit(settings)
        try:
            # A panic shred must work even when the key is lost or wrong: it reads nothing.
            if (args.group, args.command) != ("db", "shred"):
                key_check_or_exit(settings, svc.db, rotating=(args.group, args.command) == ("db", "rotate-key"))
            return handler(svc, args)
        finally:
            svc.db.engine.dispose()
    except CommandError as exc:
        print(f"rapidresponse: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, ProgrammingError) as exc:
        print(f"rapidresponse: {database_problem(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def database_problem(exc: DBAPIError) -> str:
    # Only the driver's first line: the full error carries the SQL and its parameters.
    first = (str(exc.orig).strip().splitlines() or [""])[0]
    hint = "; has `rapidresponse db upgrade` been run?" if "table" in first or "relation" in first else ""
    return f"database: {first or type(exc.orig).__name__}{hint}"


def db_purge(svc: Services, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from rapidresponse.db import utcnow
    from rapidresponse.privacy import retention

    days = svc.settings.retention_days if args.days is None else args.days
    if days < 1:
        raise CommandError("retention is off (RETENTION_DAYS=0); pass --days N to purge anyway")
    with svc.db.session() as session:
        purged = retention.purge(session, utcnow() - timedelta(days=days))
    if not svc.db.truncate_log():
        print("warning: the write-ahead log could not be emptied (another process is reading the "
              "database); stop web and workers and run this again", file=sys.stderr)
    print(f"deleted {purged.incidents} closed incidents, {purged.texts_out} texts sent, "
          f"{purged.texts_in} texts received, {purged.calls} hotline calls, {purged.recordings} recordings and "
          f"{purged.simulated} simulator messages older than {days} days")
    return 0


SHRED_WORD = "SHRED"


def db_shred(svc: Services, args: argparse.Namespace) -> int:
    from rapidresponse.privacy import shred

    key_file = svc.settings.data_key_file
    if args.key_file and key_file is None:
        raise CommandError("DATA_KEY_FILE: --key-file needs the key in a file; this process has it from DATA_KEY "
                           "(remove it from where the environment is set)")
    what = "every incident, thread and message" + (" and every member (their STOPs too)" if args.members else "")
    print(f"This deletes {what} in this database, for good.", file=sys.stderr)
    if args.key_file:
        print(f"It then overwrites and removes {key_file}: no copy of this database can be read after.",
              file=sys.stderr)
    try:
        typed = input(f"Type {SHRED_WORD} to go on: ")
    except EOFError:
        typed = ""
    if typed.strip() != SHRED_WORD:
        raise CommandError(f"nothing deleted (you did not type {SHRED_WORD})")
    at_provider = delete_recordings_first(svc)
    with svc.db.session() as session:
        done = shred.shred(session, members=args.members, now=utcnow())
    svc.db.compact()
    print(f"deleted {plural(done.incidents, 'incident')}, {plural(done.messages, 'message')}, "
          f"{plural(done.calls, 'hotline call')}, {plural(done.recordings, 'recording')}"
          + (f" and {plural(done.members, 'member')}" if args.members else "")
          + "; the database is compacted")
    if at_provider or done.recordings_at_provider:
        print(f"{plural(at_provider, 'recording')} deleted at the provider first"
              + (f"; {plural(done.recordings_at_provider, 'recording')} could not be and stay there: delete them "
                 "in the Twilio console (Monitor > Logs > Call recordings)" if done.recordings_at_provider else ""))
    if args.key_file and key_file is not None:
        shred.destroy_key_file(key_file)
        print(f"{key_file} overwritten and removed; stop web and workers, which still hold the key in memory")
    return 0


def delete_recordings_first(svc: Services) -> int:
    """Before a shred, delete at the provider the recordings it still holds (their ids go with the
    database). Best effort: a shred must go on with a lost key or an unreachable provider."""
    from rapidresponse.hotline.models import Recording
    from rapidresponse.messaging import deletes

    try:
        with svc.db.session() as session:
            ids = list(session.scalars(select(Recording.id).where(Recording.sid_token.is_not(None))))
        if not ids:
            return 0
        return deletes.delete_claimed(svc, deletes.Due(recordings=ids), utcnow).deleted
    except Exception as exc:  # noqa: BLE001 - the shred itself must not wait on this
        print(f"warning: recordings could not be deleted at the provider first ({type(exc).__name__})", file=sys.stderr)
        return 0


def db_rotate_key(svc: Services, args: argparse.Namespace) -> int:
    from rapidresponse.privacy import keycheck, rotation

    if svc.settings.data_key_previous is None:
        raise CommandError("DATA_KEY_PREVIOUS: set it to the old key, and DATA_KEY to the new one, then run again")
    with svc.db.session() as session:
        counts = rotation.rotate(session, svc.cipher)
        keycheck.record(session, str(svc.settings.data_key))
    done = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"re-encrypted with the new DATA_KEY: {done}. DATA_KEY_PREVIOUS can now be removed.")
    return 0


# --- members -------------------------------------------------------------------------------------


def members_import(svc: Services, args: argparse.Namespace) -> int:
    from rapidresponse.incidents.service import AfterCommit
    from rapidresponse.jobs import queues
    from rapidresponse.jobs.dispatch import dispatch

    try:
        columns, records = importer.read_csv(args.file)
    except importer.ImportFileError as exc:
        raise CommandError(str(exc)) from None
    rows, rejects = importer.parse_rows(columns, records, region=svc.settings.default_region, trees=svc.trees)
    if rejects:
        return report_rejects(rejects)
    if not rows:
        raise CommandError(f"{args.file}: no members in it, only the header row")
    try:
        with svc.db.session() as session:
            now = utcnow()
            result = importer.apply(session, svc.cipher, rows, now=now, welcome=args.welcome)
            audit.record(session, audit.CLI, audit.AuditAction.MEMBERS_IMPORT, now, count=result.imported)
    except importer.RowsRejectedError as exc:
        return report_rejects(exc.rejects)
    except IntegrityError:
        raise CommandError("a number in the file joined by text while importing; nothing was imported, "
                           "run the import again") from None
    if result.welcome_ids:
        dispatch(svc, AfterCommit(send_ids=list(result.welcome_ids)), queue=queues.BULK)
    summary = f"imported {plural(result.imported, 'member')} ({result.updated} updated)"
    if args.welcome:
        summary += f", {plural(len(result.welcome_ids), 'welcome text')} queued"
    print(summary)
    return 0


def report_rejects(rejects: Sequence[importer.Reject]) -> int:
    for reject in rejects:
        print(reject, file=sys.stderr)
    rows = len({reject.row for reject in rejects})
    print(f"rapidresponse: nothing imported: {plural(rows, 'row')} rejected; fix the file and run it again",
          file=sys.stderr)
    return 1


def members_list(svc: Services, args: argparse.Namespace) -> int:
    if args.tree is not None and args.tree not in svc.trees:
        raise CommandError(f"no tree {args.tree!r}; trees are {', '.join(sorted(svc.trees.trees))}")
    query = select(Member).order_by(Member.id)
    if args.status:
        query = query.where(Member.status == args.status)
    if args.tree:
        layers = [registry.layer_tag(svc.cipher, args.tree, layer.number)
                  for layer in svc.trees.trees[args.tree].layers]
        query = query.where(Member.tags.any(MemberTag.tag.in_(layers)))
    with svc.db.session() as session:
        table = []
        for member in session.scalars(query):
            places = registry.places(svc.cipher, member)
            table.append((
                mask_phone(svc.phone_of(member.phone_token)) if member.phone_token is not None else "(wiped)",
                member.status,
                member.language,
                member.channel,
                member.zone or "-",
                ";".join(sorted(places.roles)),
                ";".join(f"{tree}:{layer}" for tree, layer in sorted(places.trees.items())) or "-",
            ))
    if table:
        print_table(("number", "status", "language", "channel", "zone", "roles", "trees"), table)
    print(plural(len(table), "member"))
    return 0


def members_remove(svc: Services, args: argparse.Namespace) -> int:
    try:
        phone = normalize_phone(args.phone, svc.settings.default_region)
    except InvalidNumberError as exc:
        raise CommandError(f"PHONE: {exc}") from None
    with svc.db.session() as session:
        member = registry.find_by_phone(session, svc.cipher, phone)
        if member is None:
            raise CommandError(f"no member with the number {mask_phone(phone)}")
        layers = directory.remove(session, svc.cipher, member, utcnow())
        audit.record(session, audit.CLI, audit.AuditAction.MEMBER_REMOVE, utcnow(), target=audit.Target.MEMBER,
                     target_id=member.id)
    print(f"removed the member {mask_phone(phone)} and their {plural(layers, 'tree membership')}")
    return 0


# --- coordinators --------------------------------------------------------------------------------


def coordinators_create(svc: Services, args: argparse.Namespace) -> int:
    from werkzeug.security import generate_password_hash

    email = normalize_email(args.email)
    with svc.db.session() as session:
        if session.scalar(select(Coordinator.id).where(
                Coordinator.email_index == email_index(svc.cipher, email))) is not None:
            raise CommandError(f"a coordinator {email} already exists")
    password = read_password(args.password_stdin)
    try:
        with svc.db.session() as session:
            session.add(new_coordinator(svc.cipher, email, generate_password_hash(password), admin=args.admin))
    except IntegrityError:
        raise CommandError(f"a coordinator {email} already exists") from None
    print(f"created the {'admin' if args.admin else 'coordinator'} {email}")
    return 0


def coordinators_invite(svc: Services, args: argparse.Namespace) -> int:
    from rapidresponse.console import accounts

    try:
        with svc.db.session() as session:
            link = accounts.invite(session, svc.cipher, args.email, utcnow(), actor_id=audit.CLI,
                                   admin=args.admin)
    except accounts.AccountError as exc:
        raise CommandError(f"EMAIL: {exc}") from None
    except IntegrityError:
        raise CommandError("EMAIL: already has a sign-in") from None
    print(f"invited the {'admin' if args.admin else 'coordinator'} {normalize_email(args.email)}; "
          f"send them this link (it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):")
    print(link.url(svc.settings.public_base_url))
    return 0


def coordinators_account(svc: Services, args: argparse.Namespace) -> int:
    """reset-password, disable, enable: the same functions as the admin's buttons."""
    from rapidresponse.console import accounts

    email = normalize_email(args.email)
    now = utcnow()
    try:
        with svc.db.session() as session:
            coordinator = accounts.find(session, svc.cipher, email)
            if coordinator is None:
                raise CommandError(f"no coordinator {email}")
            if args.command == "reset-password":
                link = accounts.reset_password(session, coordinator, now, actor_id=audit.CLI)
            elif args.command == "disable":
                changed = accounts.disable(session, coordinator, now, actor_id=audit.CLI)
            else:
                changed = accounts.enable(session, coordinator, now, actor_id=audit.CLI)
    except accounts.AccountError as exc:
        raise CommandError(f"{email}: {exc}") from None
    if args.command == "reset-password":
        print(f"{email}: the old password no longer works and every session has ended; send them this link "
              f"(it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):")
        print(link.url(svc.settings.public_base_url))
    elif args.command == "disable":
        print(f"disabled {email}; their sessions have ended" if changed else f"{email} was already disabled")
    else:
        print(f"enabled {email}" if changed else f"{email} was not disabled")
    return 0


def coordinators_phone(svc: Services, args: argparse.Namespace) -> int:
    """Their phone, encrypted, found by its own blind index (apart from members' numbers)."""
    from rapidresponse.console.models import console_phone_index

    email = normalize_email(args.email)
    if args.clear == bool(args.phone):
        raise CommandError("PHONE: give a number, or --clear to forget it")
    number = None
    if args.phone:
        try:
            number = normalize_phone(args.phone, svc.settings.default_region)
        except InvalidNumberError as exc:
            raise CommandError(f"PHONE: {exc}") from None
    try:
        with svc.db.session() as session:
            coordinator = session.scalar(select(Coordinator).where(
                Coordinator.email_index == email_index(svc.cipher, email)))
            if coordinator is None:
                raise CommandError(f"no coordinator {email}")
            coordinator.phone_index = console_phone_index(svc.cipher, number) if number else None
            coordinator.phone_token = svc.cipher.encrypt(number) if number else None
    except IntegrityError:
        raise CommandError("PHONE: another coordinator has this phone") from None
    print(f"{email}: phone set to {mask_phone(number)}; calls from it get the coordinator menu" if number
          else f"{email}: phone forgotten")
    return 0


def coordinators_unlock(svc: Services, args: argparse.Namespace) -> int:
    from rapidresponse.console.auth import limiter

    email = normalize_email(args.email)
    cleared = limiter(svc).unlock(email)
    with svc.db.session() as session:
        known = session.scalar(select(Coordinator.id).where(
            Coordinator.email_index == email_index(svc.cipher, email))) is not None
    note = "" if known else " (no coordinator has this email)"
    print(f"cleared {plural(cleared, 'sign-in limit')} for {email}{note}")
    return 0


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise CommandError("EMAIL: not an email address like name@example.org")
    return email


PASSWORD_TRIES = 3


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < PASSWORD_MIN:
            raise CommandError(f"the password must be at least {PASSWORD_MIN} characters")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password on; pipe it in with --password-stdin")
    # Said before asking, and asked again on a mistake: nobody should type a password twice to
    # learn it was too short.
    print(f"Choose a password of at least {PASSWORD_MIN} characters (a few words is easiest).", file=sys.stderr)
    for _ in range(PASSWORD_TRIES):
        password = getpass.getpass("password: ")
        if len(password) < PASSWORD_MIN:
            print(f"That is {len(password)} characters; it needs at least {PASSWORD_MIN}. Try again.", file=sys.stderr)
            continue
        if getpass.getpass("again: ") != password:
            print("The two do not match. Try again.", file=sys.stderr)
            continue
        return password
    raise CommandError(f"no password set after {PASSWORD_TRIES} tries; nothing was created")


# --- trees ---------------------------------------------------------------------------------------


def trees_show(svc: Services, args: argparse.Namespace) -> int:
    # Places are encrypted: counted by opening each active member's (an operator's command, not a
    # fan-out), which also finds places in trees the file no longer has.
    counts: Counter[tuple[str, int]] = Counter()
    with svc.db.session() as session:
        for token in session.scalars(select(Member.places_token).where(Member.status == MemberStatus.ACTIVE.value)):
            counts.update(registry.places_in(svc.cipher, token).trees.items())
        now = utcnow()
        duty = {(c.tree, c.layer): c for c in coverage.count_all(session, svc.cipher, svc.trees, now)}
    for name, tree in svc.trees.trees.items():
        default = " (default)" if name == svc.trees.default_tree else ""
        print(f"{name}{default}: keywords {', '.join(tree.keywords) or '-'}")
        for layer in tree.layers:
            flags = [label for flag, label in LAYER_FLAGS if getattr(layer, flag)]
            if layer.on_duty:
                flags.append(f"on duty {layer.on_duty} ({tree.time_zone})")
            if layer.wave:
                flags.append(f"waves of {layer.wave} every {seconds(layer.wave_wait_seconds or 0)}")
            print(f"  {layer.number}. {layer.name}: quorum {layer.quorum}, wait {seconds(layer.wait_seconds)}"
                  f"{', ' + ', '.join(flags) if flags else ''}; "
                  f"{plural(counts.pop((name, layer.number), 0), 'active member')}"
                  f"{_duty_counts(duty[(name, layer.number)])}")
    # Memberships the trees file no longer has a place for (a layer or tree was removed from it).
    for (name, number), count in sorted(counts.items()):
        print(f"warning: {plural(count, 'active member')} in {name}:{number}, which is not in the trees file",
              file=sys.stderr)
    return 0


def _duty_counts(count: coverage.LayerCount) -> str:
    """", 1 paused, 2 on duty now (below quorum)": said only when someone is paused or off duty."""
    parts = [f"{count.paused} paused"] if count.paused else []
    if count.on_duty != count.members - count.paused:
        parts.append(f"{count.on_duty} on duty now")
    if parts and count.short:
        parts[-1] += " (below quorum)"
    return "".join(f", {part}" for part in parts)


# --- helpers -------------------------------------------------------------------------------------


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def seconds(value: float) -> str:
    return f"{value:g}s"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


LAYER_FLAGS = (
    ("verifies", "verifies"),
    ("next_waits_for_confirmation", "next layer waits for confirmation"),
    ("zone_first", "zone first"),
)
COMMANDS: dict[tuple[str, str], Callable[[Services, argparse.Namespace], int]] = {
    ("members", "import"): members_import,
    ("members", "list"): members_list,
    ("members", "remove"): members_remove,
    ("coordinators", "create"): coordinators_create,
    ("coordinators", "unlock"): coordinators_unlock,
    ("coordinators", "phone"): coordinators_phone,
    ("coordinators", "invite"): coordinators_invite,
    ("coordinators", "reset-password"): coordinators_account,
    ("coordinators", "disable"): coordinators_account,
    ("coordinators", "enable"): coordinators_account,
    ("trees", "show"): trees_show,
    ("db", "purge"): db_purge,
    ("db", "rotate-key"): db_rotate_key,
    ("db", "shred"): db_shred,
}


if __name__ == "__main__":
    sys.exit(main())
