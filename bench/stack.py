"""What the benchmarks share around the stack they start: an emptied PostgreSQL, latency summaries."""

from __future__ import annotations

import statistics


def reset_postgres(url: str) -> None:
    """Drop every table, so each run starts from an empty schema."""
    from sqlalchemy import create_engine, text

    from rapidresponse.settings import _database_url

    engine = create_engine(_database_url({"DATABASE_URL": url}))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1) if values else float("nan"),
            "p99_ms": round(pct(values, 0.99) * 1000, 1), "max_ms": round(max(values, default=0) * 1000, 1)}
