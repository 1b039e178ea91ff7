"""Sign-in limits: per source address and per account, counted atomically, throttling rather than
locking a coordinator out, and cleared from the CLI."""

from __future__ import annotations

import threading
from collections import Counter

from tests.web.test_console_auth import EMAIL, PASSWORD, add_coordinator

HOME = "198.51.100.7"  # the coordinator's own address
ATTACKER = "203.0.113.66"


def attempt(client, email: str, password: str, address: str):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_one_address_cannot_try_many_accounts(client, svc):
    """Guessing across 40 emails from one address is stopped after 20 failures, right password or not."""
    add_coordinator(svc)
    codes = Counter(attempt(client, f"user{i}@example.org", "guess", ATTACKER).status_code for i in range(40))
    assert codes == {401: 20, 429: 20}
    assert attempt(client, EMAIL, PASSWORD, ATTACKER).status_code == 429
    assert attempt(client, EMAIL, PASSWORD, HOME).status_code == 302


def test_failures_on_an_account_do_not_lock_its_coordinator_out(client, svc):
    """5 wrong passwords from an attacker's address block that address, not the coordinator at home."""
    add_coordinator(svc)
    for _ in range(5):
        assert attempt(client, EMAIL, "wrong", ATTACKER).status_code == 401
    refused = attempt(client, EMAIL, PASSWORD, ATTACKER)
    assert refused.status_code == 429 and b"Try again in 15 minutes" in refused.data
    assert int(refused.headers["Retry-After"]) > 14 * 60
    assert attempt(client, EMAIL, PASSWORD, HOME).status_code == 302


def test_concurrent_guesses_are_counted_atomically(app, svc):
    """48 guesses at once at one account from one address: exactly 5 passwords are checked."""
    add_coordinator(svc)
    start = threading.Barrier(48)
    codes: list[int] = []

    def guess() -> None:
        client = app.test_client()
        start.wait()
        codes.append(attempt(client, EMAIL, "wrong", ATTACKER).status_code)

    threads = [threading.Thread(target=guess) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(codes) == {401: 5, 429: 43}


def test_an_account_attacked_from_many_addresses_is_throttled_not_locked(client, svc):
    """After 10 failures from anywhere, an account takes one attempt every 2 s: slowed, still open."""
    add_coordinator(svc)
    for i in range(10):
        assert attempt(client, EMAIL, "wrong", f"203.0.113.{i}").status_code == 401
    assert attempt(client, EMAIL, "wrong", "203.0.113.100").status_code == 401  # takes the slot
    throttled = attempt(client, EMAIL, PASSWORD, HOME)
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 2
    assert b"seconds" in throttled.data
    [slot] = svc.redis.keys(f"{svc.settings.queue_prefix}console:login:slot:*")
    svc.redis.delete(slot)  # two seconds later
    assert attempt(client, EMAIL, PASSWORD, HOME).status_code == 302


def test_a_refused_attempt_uses_up_nothing(client, svc):
    """Guesses refused by the limit are not counted: the limit cannot be pushed further out by them."""
    add_coordinator(svc)
    for _ in range(5):
        attempt(client, EMAIL, "wrong", ATTACKER)
    for _ in range(20):
        assert attempt(client, EMAIL, "wrong", ATTACKER).status_code == 429
    [address_key] = svc.redis.keys(f"{svc.settings.queue_prefix}console:login:address:*")
    assert int(svc.redis.get(address_key)) == 5


def test_limit_keys_hold_no_email_or_address(client, svc):
    """What Redis holds are keyed hashes: no email, no address."""
    add_coordinator(svc)
    attempt(client, EMAIL, "wrong", ATTACKER)
    keys = [k.decode() for k in svc.redis.scan_iter(f"{svc.settings.queue_prefix}console:*")]
    assert len(keys) == 3
    assert not any("example" in k or "ana" in k or "203.0" in k for k in keys)


def test_proxy_hops_make_the_forwarded_address_count(tmp_path, database_url):
    """Behind TRUSTED_PROXY_HOPS=1, the client's X-Forwarded-For address is the one limited."""
    from tests import conftest

    env = conftest.test_env(tmp_path, database_url, TRUSTED_PROXY_HOPS="1")
    from rapidresponse.settings import Settings

    with conftest.fresh_services(Settings.from_env(env)) as services:
        add_coordinator(services)
        client = conftest.testing_app(services).test_client()
        for _ in range(5):
            client.post("/login", data={"email": EMAIL, "password": "wrong"},
                        headers={"X-Forwarded-For": ATTACKER})
        assert client.post("/login", data={"email": EMAIL, "password": PASSWORD},
                           headers={"X-Forwarded-For": ATTACKER}).status_code == 429
        assert client.post("/login", data={"email": EMAIL, "password": PASSWORD},
                           headers={"X-Forwarded-For": HOME}).status_code == 302
