"""The wired-up services one process uses: settings, database, cipher, provider, Redis, trees.

Built once per process (the web app, each worker, the CLI) from a Settings object and passed
explicitly; nothing here runs at import.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from redis import Redis

from rapidresponse.db import Database
from rapidresponse.messaging.provider import Provider
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.settings import Settings
from rapidresponse.trees.model import Trees, load_trees


@dataclass
class Services:
    settings: Settings
    db: Database
    cipher: FieldCipher
    provider: Provider
    redis: Redis
    trees: Trees

    def phone_of(self, token: bytes) -> str:
        return self.cipher.decrypt(token)


def build_services(settings: Settings, *, provider: Provider | None = None) -> Services:
    db = Database(settings.database_url)
    old_keys = [str(settings.data_key_previous)] if settings.data_key_previous else []
    cipher = FieldCipher(str(settings.data_key), *old_keys)
    if provider is None:
        if settings.provider_name == "twilio":
            from rapidresponse.messaging.twilio_provider import TwilioProvider

            provider = TwilioProvider(settings)
        else:
            from rapidresponse.messaging.simulator import SimulatorProvider

            provider = SimulatorProvider(db, cipher)
    return Services(
        settings=settings,
        db=db,
        cipher=cipher,
        provider=provider,
        redis=Redis.from_url(settings.redis_url),
        trees=load_trees(settings.trees_file),
    )


@functools.cache
def process_services() -> Services:
    """This process's services, from the environment (workers: one per process, built on first job)."""
    return build_services(Settings.from_env())
