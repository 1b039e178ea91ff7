"""The dependency direction, checked by reading the source with `ast` (nothing is imported or run)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rapidresponse"

FRAMEWORKS = {"flask", "flask_wtf", "werkzeug", "rq", "redis", "twilio", "sqlalchemy"}
PURE = [
    "rapidresponse/keywords/*.py",
    "rapidresponse/i18n/*.py",
    "rapidresponse/trees/*.py",
    "rapidresponse/escalation/policy.py",
    "rapidresponse/incidents/states.py",
    "rapidresponse/incidents/codes.py",
    "rapidresponse/privacy/masking.py",
    "rapidresponse/messaging/segments.py",
    "rapidresponse/messaging/retry.py",
    "rapidresponse/members/phones.py",
    "rapidresponse/simulator/twiml.py",
    "rapidresponse/alertcalls/keypad.py",
    "rapidresponse/hotline/flow.py",
    "rapidresponse/duty/spans.py",
    "rapidresponse/duty/windows.py",
    "rapidresponse/duty/rotation.py",
    "rapidresponse/afteraction/figures.py",
    "rapidresponse/afteraction/chart.py",
]
TWILIO_ADAPTERS = {
    "rapidresponse/messaging/twilio_provider.py",
    "rapidresponse/messaging/signature.py",
    "rapidresponse/webhooks/routes.py",  # TwiML answers
    "rapidresponse/alertcalls/twiml.py",  # an alert call's TwiML (placed by the sender, answered by the webhook)
    "rapidresponse/webhooks/hotline.py",  # the hotline's TwiML
    "rapidresponse/campaigns/twiml.py",  # a campaign call: its opening, the bridge (<Dial>), hold, goodbye
}
ENVIRONMENT_READERS = {
    "rapidresponse/settings.py",
    "rapidresponse/localrun.py",
    "rapidresponse/logs.py",  # LOG_LEVEL, read before settings exist
    "migrations/env.py",
}
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def application_files() -> list[Path]:
    """Every Python file that runs in production: the package, the entry points and the migrations."""
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "workers").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]
    files += [p for p in (ROOT / "wsgi.py",) if p.exists()]
    return sorted(files)


def pure_files() -> list[Path]:
    return sorted({path for pattern in PURE for path in ROOT.glob(pattern)})


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function, resolved to absolute names."""
    own = module_name(path)
    return imports_in(tree(path), own if path.name == "__init__.py" else own.rpartition(".")[0])


def imports_in(module: ast.Module, package: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from rapidresponse.x import y` may import the submodule y.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def file_of(module: str) -> Path | None:
    """The source file of one of our modules, or None for third-party modules and plain names."""
    if module != "rapidresponse" and not module.startswith("rapidresponse."):
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def parents_of(module: str) -> list[str]:
    """The sub-package __init__ modules Python runs before this one (not the top package's create_app)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def framework_imports(start: Path) -> list[str]:
    """Each framework the file reaches through our own modules, as 'chain -> framework'."""
    found: list[str] = []
    seen: set[Path] = set()
    stack: list[tuple[Path, tuple[str, ...]]] = [(start, (relative(start),))]
    while stack:
        path, chain = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in sorted(imported_modules(path)):
            if name.split(".")[0] in FRAMEWORKS:
                found.append(" -> ".join([*chain, name]))
            for module in [*parents_of(name), name]:
                target = file_of(module)
                if target is not None and target != PACKAGE / "__init__.py":
                    stack.append((target, (*chain, relative(target))))
    return sorted(set(found))


def test_pure_module_list_is_not_empty():
    """The pure-module patterns still match files (a rename must not silently disable the check)."""
    found = {relative(p) for p in pure_files()}
    assert len(found) >= 11
    assert {"rapidresponse/keywords/parser.py", "rapidresponse/members/phones.py"} <= found


@pytest.mark.parametrize("path", pure_files(), ids=relative)
def test_pure_modules_import_no_framework(path: Path):
    """Parsing, planning, policy, i18n, masking and segments need no Flask, RQ, Redis, Twilio or database."""
    assert framework_imports(path) == []


def test_only_the_adapters_import_twilio():
    """Twilio's SDK is imported only by the provider adapter, the signature check and the TwiML webhook."""
    importers = {
        relative(path)
        for path in application_files()
        if any(name.split(".")[0] == "twilio" for name in imported_modules(path))
    }
    assert importers <= TWILIO_ADAPTERS


def reads_environment(path: Path) -> list[str]:
    """Where the file touches os.environ / os.getenv (however it is spelled), as 'file:line: what'."""
    return [f"{relative(path)}:{hit}" for hit in environment_uses(tree(path))]


def environment_uses(module: ast.Module) -> list[str]:
    hits: list[tuple[int, str]] = []
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES:
            hits.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "posix"}:
            hits += [(node.lineno, f"from {node.module} import {a.name}")
                     for a in node.names if a.name in ENVIRONMENT_NAMES]
    return [f"{line}: {what}" for line, what in sorted(hits)]


def test_only_settings_reads_the_environment():
    """Configuration comes from one place: only settings (and localrun, logging, Alembic) read os.environ."""
    readers = [hit for path in application_files() if relative(path) not in ENVIRONMENT_READERS
               for hit in reads_environment(path)]
    assert readers == []


def test_the_allowed_environment_readers_exist():
    """The allow-lists name real files, so a move cannot leave a stale exception behind."""
    for name in (*TWILIO_ADAPTERS, *ENVIRONMENT_READERS):
        assert (ROOT / name).is_file(), name
    assert reads_environment(PACKAGE / "settings.py")


def test_the_checker_catches_what_it_claims():
    """The walker sees function-level, relative and dotted imports, and environ however it is spelled."""
    probe = ast.parse(
        "import os\nfrom os import getenv\nfrom . import db\nfrom ..trees import model\n"
        "def f():\n    import flask.json\n    return os.environ, __import__('os').environ\n"
    )
    imports = imports_in(probe, "rapidresponse.keywords")
    assert {"flask.json", "rapidresponse.keywords.db", "rapidresponse.trees.model"} <= imports
    assert environment_uses(probe) == ["2: from os import getenv", "7: .environ", "7: .environ"]
    assert framework_imports(PACKAGE / "webhooks" / "routes.py")  # it does use Flask: the walker sees it
