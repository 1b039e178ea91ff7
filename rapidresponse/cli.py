"""The `rapidresponse` command: db upgrade, members import/list/remove, coordinators create, trees show.

A bad setting stops any command with one line naming the variable, never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

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
    try:
        return create_app(settings)
    except TreeConfigError as exc:
        print(f"rapidresponse: TREES_FILE: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def db_upgrade(database_url: str) -> None:
    """Apply every Alembic migration to the database."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rapidresponse", description=__doc__)
    commands = parser.add_subparsers(dest="group", required=True)
    db = commands.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="apply migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_or_exit()
    try:
        if args.group == "db" and args.command == "upgrade":
            if settings.database_url.startswith("sqlite:///"):
                from pathlib import Path

                Path(settings.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            db_upgrade(settings.database_url)
            print("database is up to date")
            return 0
    except CommandError as exc:
        print(f"rapidresponse: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
