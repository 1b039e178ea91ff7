"""The Procfile's web line as deployed: gunicorn with config/gunicorn.conf.py."""

from __future__ import annotations

import gc
import os
import runpy
import subprocess
import sys
import urllib.request
from pathlib import Path

from gunicorn.config import Config

from rapidresponse.localrun import free_port
from rapidresponse.logs import GunicornLogger, RedactPhoneNumbers
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests import conftest
from tests.e2e.harness import wait_until

ROOT = Path(__file__).resolve().parent.parent


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def test_web_listens_on_loopback_and_logs_no_query_strings(tmp_path, database_url):
    """By default the web answers on 127.0.0.1 only, and no access-log line carries a query string."""
    env = {k: v for k, v in conftest.test_env(tmp_path, database_url).items() if not k.startswith("TWILIO_")}
    services = build_services(Settings.from_env(env))
    services.db.create_all()
    services.db.engine.dispose()
    services.redis.close()
    port = free_port()
    env.update(PORT=str(port), PATH=os.environ["PATH"], HOME=str(tmp_path))
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.conf.py", "wsgi:app"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"))
        assert answers(f"http://127.0.0.1:{port}/simulator?phone=%2B12125550100")
    finally:
        web.terminate()
        out, err = web.communicate(timeout=30)
    # (The masker takes "port (pid)" for a number, so only the address is checked.)
    assert "Listening at: http://127.0.0.1:" in err, err
    access = [line for line in out.splitlines() if "/simulator" in line]
    assert len(access) == 1 and '"GET /simulator HTTP/1.1" 200' in access[0], out
    assert "phone=" not in out + err and "2125550100" not in out + err


def test_gunicorn_logs_are_masked():
    """gunicorn's error and access logs (which skip the root logger) carry the masking filter."""
    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    handlers = logger.error_log.handlers + logger.access_log.handlers
    assert len(handlers) >= 2
    assert all(any(isinstance(f, RedactPhoneNumbers) for f in h.filters) for h in handlers)


def test_each_web_worker_freezes_its_start_up_heap():
    """gunicorn's post_worker_init (config/gunicorn.conf.py) takes what start-up built out of the
    collector's full passes (rapidresponse/heap.py): a full pass over it held every request in
    that worker for up to 94 ms."""
    hooks = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](object())
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
