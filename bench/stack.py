"""What the benchmarks share around the stack they start: an emptied PostgreSQL, an app in this
process, latency summaries."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def serving(module: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m module args` started from the repository, and the address its first line
    prints (`listening on http://127.0.0.1:PORT`): the fake Twilio, the null receiver."""
    process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip().rsplit(" ", 1)[-1]


def reset_postgres(url: str) -> None:
    """Drop every table, so each run starts from an empty schema."""
    from sqlalchemy import create_engine, text

    from rapidresponse.settings import _database_url

    engine = create_engine(_database_url({"DATABASE_URL": url}))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def app_in_process(name: str, trees: str, database_url: str, redis_url: str, twilio: dict[str, str],
                   **extra: str) -> tuple[Any, Any]:
    """Services and the Flask app in this process, on a migrated database (SQLite in a temporary
    folder unless `database_url`), for the benches that time one webhook step by step. `twilio`:
    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER and PUBLIC_BASE_URL."""
    tmp = Path(tempfile.mkdtemp(prefix=f"rr-{name}-"))
    (tmp / "trees.toml").write_text(trees, encoding="utf-8")
    url = database_url or f"sqlite:///{tmp / 'steps.sqlite3'}"
    if url.startswith("postgres"):
        reset_postgres(url)
    env = {"SECRET_KEY": f"{name}-secret-0123456789abcdef", "DATA_KEY": Fernet.generate_key().decode(),
           "DATABASE_URL": url, "REDIS_URL": redis_url, "TREES_FILE": str(tmp / "trees.toml"),
           "QUEUE_PREFIX": f"steps-{uuid.uuid4().hex[:8]}:", "LOG_LEVEL": "WARNING", **twilio, **extra}
    from rapidresponse import create_app
    from rapidresponse.cli import db_upgrade
    from rapidresponse.services import build_services
    from rapidresponse.settings import Settings

    settings = Settings.from_env(env)
    db_upgrade(settings.database_url)
    svc = build_services(settings)
    return svc, create_app(services=svc)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1) if values else float("nan"),
            "p99_ms": round(pct(values, 0.99) * 1000, 1), "max_ms": round(max(values, default=0) * 1000, 1)}
