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
    services = Services(
        settings=settings,
        db=db,
        cipher=cipher,
        provider=provider,
        redis=Redis.from_url(settings.redis_url),
        trees=load_trees(settings.trees_file),
    )
    from rapidresponse.messaging.simulator import SimulatorProvider

    if isinstance(provider, SimulatorProvider) and provider.report is None:
        provider.report = functools.partial(_simulated_status_callbacks, services)
    return services


def _simulated_status_callbacks(services: Services, sid: str, message_id: int | None) -> None:
    """The simulator's status callbacks take the webhook's path: into the status inbox, one drain job."""
    from rapidresponse.jobs.dispatch import queue_status_drain
    from rapidresponse.messaging.simulator import network_reports
    from rapidresponse.messaging.status_inbox import StatusInbox

    inbox = StatusInbox.of(services)
    if any([inbox.push(update) for update in network_reports(sid, message_id)]):
        queue_status_drain(services)


@functools.cache
def process_services() -> Services:
    """This process's services, from the environment (workers: one per process, built on first job)."""
    return build_services(Settings.from_env())
