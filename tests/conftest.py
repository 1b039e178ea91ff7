"""Shared fixtures: settings, services on a fresh database, the app, signed Twilio requests, members."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from rapidresponse import create_app
from rapidresponse.db import Base, import_models
from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.services import Services, build_services
from rapidresponse.settings import Settings

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://rr.example.org"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_private_redis: subprocess.Popen[bytes] | None = None
TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def pytest_configure(config: pytest.Config) -> None:
    """No Redis at TEST_REDIS_URL (a fresh machine): start a private one, as `make run` does."""
    global REDIS_URL, _private_redis
    from rapidresponse.localrun import redis_answers, start_private_redis

    if redis_answers(REDIS_URL):
        return
    _private_redis, REDIS_URL = start_private_redis(REDIS_URL, announce=_announce)
    os.environ["TEST_REDIS_URL"] = REDIS_URL


def _announce(message: str) -> None:
    print(f"[make test] {message}", file=sys.stderr, flush=True)


def pytest_report_header(config: pytest.Config) -> str:
    return f"redis: {REDIS_URL}" + (" (private, stopped afterwards)" if _private_redis is not None else "")


def pytest_unconfigure(config: pytest.Config) -> None:
    from rapidresponse.localrun import stop_private_redis

    if _private_redis is not None:
        stop_private_redis(_private_redis)


def backends() -> list[str]:
    return ["sqlite"] + (["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])


def test_env(tmp_path: Any, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "SECRET_KEY": "test-secret-key-0123456789",
        "DATA_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "QUEUE_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
        "SEND_RATE_SEGMENTS_PER_SECOND": "0",
    }
    env.update(overrides)
    return env


def fresh_postgres(url: str) -> None:
    """Each test gets empty tables."""
    import_models()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                           if url.startswith("postgresql://") else url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(autouse=True)
def _sends_recorded_by_their_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process senders wait 30 real seconds, not 1, before leaving calls that have not ended to
    record themselves: on a loaded machine a mocked send can take over a second, and a test would
    then see its outcome recorded late instead of counted by the job. Worker processes (e2e) and
    tests that pass `stragglers_after` keep their own value."""
    from rapidresponse.messaging import sender

    monkeypatch.setattr(sender, "_STRAGGLERS_AFTER", 30.0)


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgres":
        url = os.environ["TEST_DATABASE_URL"]
        fresh_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def env(tmp_path: Any, database_url: str) -> dict[str, str]:
    return test_env(tmp_path, database_url)


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@contextmanager
def fresh_services(settings: Settings) -> Iterator[Services]:
    """Services on an empty database; queues and connections cleaned up afterwards."""
    services = build_services(settings)
    services.db.create_all()
    try:
        yield services
    finally:
        clear_queues(services.redis, settings.queue_prefix)
        services.redis.close()
        services.db.engine.dispose()


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    with fresh_services(settings) as services:
        yield services


def clear_queues(redis: Redis, prefix: str) -> None:
    keys = list(redis.scan_iter(f"rq:*{prefix}*")) + list(redis.scan_iter(f"{prefix}*"))
    if keys:
        redis.delete(*keys)


class AnsweredClient(FlaskClient):
    """Flask's test client, each response closed once it is read, as a server closes it once sent:
    a webhook's work queued after its answer (webhooks.routes.queue_once_answered) is queued
    before the test goes on."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def testing_app(services: Services) -> Any:
    app = create_app(services=services)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    app.test_client_class = AnsweredClient
    return app


@pytest.fixture
def app(svc: Services) -> Any:
    return testing_app(svc)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def twilio_api() -> Iterator[responses.RequestsMock]:
    """Twilio's REST API, mocked: every create answers 201 with a fresh SID."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TWILIO_MESSAGES, callback=_created)
        yield mock


def _created(request: Any) -> tuple[int, dict[str, str], str]:
    import json
    from urllib.parse import parse_qs

    form = {k: v[0] for k, v in parse_qs(request.body or "").items()}
    sid = "SM" + uuid.uuid4().hex
    return 201, {}, json.dumps({"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body"),
                                "account_sid": ACCOUNT_SID})


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


class Phone:
    """Texts the webhook exactly as Twilio would, signed, from one number."""

    def __init__(self, client: Any, number: str) -> None:
        self.client, self.number = client, number

    def text(self, body: str, sid: str | None = None) -> Any:
        return signed_post(self.client, "/twilio/sms", {
            "MessageSid": sid or "SM" + uuid.uuid4().hex, "From": self.number, "To": FROM_NUMBER,
            "Body": body, "AccountSid": ACCOUNT_SID, "NumMedia": "0",
        })

    def reply_to(self, body: str) -> str:
        response = self.text(body)
        assert response.status_code == 200, response.data
        return twiml_text(response.data)


def signed_post(client: Any, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
                query: str = "") -> Any:
    url = PUBLIC_BASE_URL + path + (f"?{query}" if query else "")
    return client.post(path + (f"?{query}" if query else ""), data=params,
                       headers={"X-Twilio-Signature": sign(url, params, token)})


def twiml_text(xml: bytes) -> str:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)
    return " | ".join((m.text or "") for m in root.iter("Message"))


@pytest.fixture
def phone(client: Any) -> Phone:
    return Phone(client, "+12125550101")


def add_member(svc: Services, phone: str, *, language: str = "en", zone: str | None = None,
               roles: str = "member", trees: dict[str, int] | None = None,
               status: MemberStatus = MemberStatus.ACTIVE) -> int:
    with svc.db.session() as session:
        member = registry.new_member(svc.cipher, phone, language=language, zone=zone, status=status,
                                     roles=registry.parse_roles(roles), trees=trees)
        if status == MemberStatus.ACTIVE:
            member.consented_at = datetime.now(UTC)
        session.add(member)
        session.flush()
        return member.id


def row(svc: Services, model: Any, ident: int) -> Any:
    """One row by primary key, detached so its attributes can be read after the session ends."""
    with svc.db.session() as session:
        found = session.get(model, ident)
        assert found is not None, f"no {model.__name__} {ident}"
        session.expunge(found)
        return found


def member(svc: Services, phone: str) -> Member | None:
    with svc.db.session() as session:
        found = registry.find_by_phone(session, svc.cipher, phone)
        if found is not None:
            session.expunge(found)
        return found


__all__ = ["Base"]
