"""Measure the fake: 2,000 messages from one thread with a real twilio Client at zero latency.

    python -m bench.check_fake [--n 2000] [--latency-ms 0]

A healthy loopback fake answers several hundred to ~1,000 creates/s to one SDK thread; a result
near 23/s means TCP_NODELAY is missing (delayed-ACK stalls).
"""

from __future__ import annotations

import argparse
import time

from bench.fake_twilio import FakeTwilio, twilio_client


def run(n: int = 2000, latency: float = 0.0) -> float:
    with FakeTwilio(latency=latency) as fake:
        client = twilio_client(fake)
        try:
            client.messages.create(to="+15550000000", from_="+15559990000", body="warm-up")
            fake.reset()
            t0 = time.perf_counter()
            for i in range(n):
                client.messages.create(to=f"+1555{i:07d}", from_="+15559990000", body=f"alert {i}")
            elapsed = time.perf_counter() - t0
        finally:
            client.http_client.close()
        assert fake.count == n, (fake.count, n)
        rate = n / elapsed
        print(
            f"{n} messages in {elapsed:.2f} s from one thread: {rate:.0f} messages/s "
            f"(max in any 1-s window {fake.max_in_any_window()}, per second {fake.per_second_counts()})"
        )
        return rate


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--latency-ms", type=float, default=0.0)
    a = p.parse_args()
    run(a.n, a.latency_ms / 1000.0)


if __name__ == "__main__":
    main()
