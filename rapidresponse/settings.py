"""Settings: the only module that reads the environment.

Every value is parsed and validated once, at start-up. A missing or malformed value raises
SettingsError whose message starts with the variable's name; entry points print that one line
and exit, never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'rapidresponse.sqlite3'}"
DEFAULT_TREES_FILE = PROJECT_ROOT / "config" / "trees.toml"
TWILIO_API_BASE_URL = "https://api.twilio.com"


class SettingsError(Exception):
    """A setting is missing or malformed; str() names the variable."""


class Secret(str):
    """A string whose repr never shows its value (settings get logged and printed in tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class Settings:
    secret_key: Secret
    data_key: Secret
    # URLs may carry passwords: kept out of repr (logs, tracebacks).
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    port: int = 5000
    # Loopback unless told otherwise: the simulator and a fresh `make run` are not for the network.
    listen_host: str = "127.0.0.1"
    # The simulator (an unauthenticated phone) answers loopback only unless this is set.
    simulator_allow_remote: bool = False
    public_base_url: str = "http://localhost:5000"
    # Where Twilio posts status callbacks: a web process of their own, so a fan-out's callbacks
    # never queue in front of members' texts. Empty: PUBLIC_BASE_URL.
    status_callback_base_url: str = ""
    default_region: str = "US"
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = None
    # Accepted during a token rotation: webhooks signed with either token verify.
    twilio_auth_token_previous: Secret | None = None
    # The key being rotated away from: still decrypts until `rapidresponse db rotate-key` is done.
    data_key_previous: Secret | None = None
    # Where DATA_KEY was read from, when it came from a file (kept so `db shred` can overwrite it).
    data_key_file: Path | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = TWILIO_API_BASE_URL
    trees_file: Path = DEFAULT_TREES_FILE
    send_rate_segments_per_second: float = 1.0
    # Alert calls started per second (Twilio's account default: 1); a rate limit of its own.
    calls_per_second: float = 1.0
    send_concurrency: int = 50
    alert_batch_size: int = 500
    alert_validity_seconds: int = 900
    send_lease_seconds: float = 120.0
    # A send call that hangs holds one thread, and must end well inside the lease (see sender.py).
    send_timeout_seconds: float = 5.0
    # Looking up what was already sent (reconciliation) may take longer than a send.
    lookup_timeout_seconds: float = 15.0
    sweep_interval_seconds: float = 5.0
    # The workers' scheduling priority below the web's (Unix nice, 0-19): when both want the same
    # cores, a caller waiting on the hotline's answer goes first; idle cores still go to the workers.
    worker_nice: int = 10
    unknown_sender_reply_limit: int = 3
    # A member's text that is no keyword and no incident's, within this many hours of a broadcast
    # (the last text we sent them), lands in that broadcast's thread. 0: never.
    broadcast_reply_hours: float = 24.0
    # A drill nobody ended closes by itself this long after it started.
    drill_minutes: float = 30.0
    # Those who said YES are asked how it went this long after an incident closes (0: never).
    debrief_hours: float = 24.0
    retention_days: int = 60
    # Call-in campaigns: at most this many members bridged to one target at once (so an office's
    # lines stay busy for hours instead of jammed for minutes), and a bridged call's time limit.
    campaign_calls_per_target: int = 2
    campaign_call_minutes: int = 20
    # Delete each text at the provider once it is final (or stored, for inbound); off keeps them there.
    provider_delete: bool = True
    provider_delete_delay_seconds: int = 300
    # Hotline recordings: deleted at the provider this long after their incident closes.
    recording_keep_hours: int = 24
    # Twilio's built-in transcription of English hotline recordings, appended to the thread.
    voice_transcribe: bool = False
    queue_prefix: str = ""
    # Proxies in front of the web process that add X-Forwarded-For/-Proto (Heroku's router: 1).
    # The sign-in limit counts per source address, so behind a proxy this must be right.
    trusted_proxy_hops: int = 0

    @property
    def status_base_url(self) -> str:
        return self.status_callback_base_url or self.public_base_url

    @property
    def web_bind(self) -> str:
        """gunicorn's --bind: host:port ([v6]:port)."""
        return web_bind(self.listen_host, self.port)

    @property
    def provider_name(self) -> str:
        """'twilio' when credentials are set, else the built-in simulator."""
        return "twilio" if self.twilio_account_sid else "simulator"

    @property
    def startup_notes(self) -> list[str]:
        """What web and worker say when they start, so a choice that keeps personal data is seen."""
        notes = []
        if not self.provider_delete:
            notes.append("PROVIDER_DELETE=off: texts are NOT deleted at the provider, which keeps every body "
                         "and both numbers until they are deleted there")
        if self.twilio_account_sid and not self.twilio_from_number:
            notes.append("TWILIO_FROM_NUMBER is not set: members on voice cannot be called (a Messaging "
                         "Service sends texts only)")
        return notes

    @property
    def sender_id(self) -> str:
        """What the rate limit is shared by: the Messaging Service, else the number."""
        return self.twilio_messaging_service_sid or self.twilio_from_number or "simulator"

    @property
    def call_sender_id(self) -> str:
        """What the call rate limit is shared by: calls always come from the number."""
        return f"calls:{self.twilio_from_number or 'simulator'}"

    @property
    def uses_messaging_service(self) -> bool:
        return bool(self.twilio_messaging_service_sid)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            secret_key=Secret(_required(env, "SECRET_KEY", min_length=16)),
            data_key=Secret(_data_key(env)),
            data_key_file=_data_key_file(env),
            database_url=_database_url(env),
            redis_url=_url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", schemes={"redis", "rediss", "unix"}),
            port=_int(env, "PORT", 5000, low=1, high=65535),
            listen_host=_listen_host(env),
            simulator_allow_remote=_bool(env, "SIMULATOR_ALLOW_REMOTE", False),
            public_base_url=_url(env, "PUBLIC_BASE_URL", "http://localhost:5000", schemes={"http", "https"})
            .rstrip("/"),
            status_callback_base_url=_url(env, "STATUS_CALLBACK_BASE_URL", "", schemes={"http", "https"},
                                          optional=True).rstrip("/"),
            default_region=_region(env),
            twilio_account_sid=_twilio_sid(env, "TWILIO_ACCOUNT_SID", "AC"),
            twilio_auth_token=_optional_secret(env, "TWILIO_AUTH_TOKEN"),
            twilio_auth_token_previous=_optional_secret(env, "TWILIO_AUTH_TOKEN_PREVIOUS"),
            data_key_previous=Secret(_fernet_key(env, "DATA_KEY_PREVIOUS")) if env.get("DATA_KEY_PREVIOUS", "").strip()
            else None,
            twilio_from_number=_from_number(env),
            twilio_messaging_service_sid=_twilio_sid(env, "TWILIO_MESSAGING_SERVICE_SID", "MG"),
            twilio_api_base_url=_url(env, "TWILIO_API_BASE_URL", TWILIO_API_BASE_URL, schemes={"http", "https"})
            .rstrip("/"),
            trees_file=_path(env, "TREES_FILE", DEFAULT_TREES_FILE),
            send_rate_segments_per_second=_float(env, "SEND_RATE_SEGMENTS_PER_SECOND", 1.0, low=0.0),
            calls_per_second=_float(env, "CALLS_PER_SECOND", 1.0, low=0.0),
            send_concurrency=_int(env, "SEND_CONCURRENCY", 50, low=1, high=500),
            alert_batch_size=_int(env, "ALERT_BATCH_SIZE", 500, low=1, high=5000),
            alert_validity_seconds=_int(env, "ALERT_VALIDITY_SECONDS", 900, low=1, high=36000),
            send_lease_seconds=_float(env, "SEND_LEASE_SECONDS", 120.0, low=1.0),
            send_timeout_seconds=_float(env, "SEND_TIMEOUT_SECONDS", 5.0, low=0.1),
            lookup_timeout_seconds=_float(env, "LOOKUP_TIMEOUT_SECONDS", 15.0, low=0.1),
            sweep_interval_seconds=_float(env, "SWEEP_INTERVAL_SECONDS", 5.0, low=0.05),
            worker_nice=_int(env, "WORKER_NICE", 10, low=0, high=19),
            unknown_sender_reply_limit=_int(env, "UNKNOWN_SENDER_REPLY_LIMIT", 3, low=0, high=100),
            broadcast_reply_hours=_float(env, "BROADCAST_REPLY_HOURS", 24.0, low=0.0),
            drill_minutes=_float(env, "DRILL_MINUTES", 30.0, low=1.0),
            debrief_hours=_float(env, "DEBRIEF_HOURS", 24.0, low=0.0),
            retention_days=_int(env, "RETENTION_DAYS", 60, low=0, high=3650),
            campaign_calls_per_target=_int(env, "CAMPAIGN_CALLS_PER_TARGET", 2, low=1, high=50),
            campaign_call_minutes=_int(env, "CAMPAIGN_CALL_MINUTES", 20, low=1, high=240),
            provider_delete=_switch(env, "PROVIDER_DELETE", True),
            provider_delete_delay_seconds=_int(env, "PROVIDER_DELETE_DELAY_SECONDS", 300, low=0, high=14 * 24 * 3600),
            recording_keep_hours=_int(env, "RECORDING_KEEP_HOURS", 24, low=0, high=24 * 3650),
            voice_transcribe=_switch(env, "VOICE_TRANSCRIBE", False),
            queue_prefix=env.get("QUEUE_PREFIX", "").strip(),
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0, low=0, high=5),
        )._checked()

    def _checked(self) -> Settings:
        if self.twilio_account_sid:
            if not self.twilio_auth_token:
                raise SettingsError("TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set")
            if not (self.twilio_from_number or self.twilio_messaging_service_sid):
                raise SettingsError(
                    "TWILIO_FROM_NUMBER: set it or TWILIO_MESSAGING_SERVICE_SID when TWILIO_ACCOUNT_SID is set"
                )
        elif self.twilio_auth_token:
            raise SettingsError("TWILIO_ACCOUNT_SID: required when TWILIO_AUTH_TOKEN is set")
        if self.broadcast_reply_hours > 720:
            raise SettingsError(f"BROADCAST_REPLY_HOURS: at most 720 (30 days), got {self.broadcast_reply_hours:g}")
        if self.drill_minutes > 1440:
            raise SettingsError(f"DRILL_MINUTES: at most 1440 (a day), got {self.drill_minutes:g}")
        if self.debrief_hours > 720:
            raise SettingsError(f"DEBRIEF_HOURS: at most 720 (30 days), got {self.debrief_hours:g}")
        if self.send_timeout_seconds >= self.send_lease_seconds:
            # Otherwise a live worker's send could still be on the wire when its claim is taken.
            raise SettingsError(
                f"SEND_TIMEOUT_SECONDS: must be shorter than SEND_LEASE_SECONDS ({self.send_lease_seconds:g}), "
                f"got {self.send_timeout_seconds:g}"
            )
        return self


def web_bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def web_bind_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Just LISTEN_HOST and PORT, for gunicorn's config file (the app checks everything else)."""
    env = dict(os.environ if environ is None else environ)
    return web_bind(_listen_host(env), _int(env, "PORT", 5000, low=1, high=65535))


def _listen_host(env: dict[str, str]) -> str:
    value = env.get("LISTEN_HOST", "").strip() or "127.0.0.1"
    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise SettingsError(
            f"LISTEN_HOST: must be an IP address to listen on, like 127.0.0.1 (all interfaces: 0.0.0.0), got {value!r}"
        ) from None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: must be true or false, got {raw!r}")


def _required(env: dict[str, str], name: str, *, min_length: int = 1) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: is not set")
    if len(value) < min_length:
        raise SettingsError(f"{name}: must be at least {min_length} characters")
    return value


def _fernet_key(env: dict[str, str], name: str) -> str:
    value = _required(env, name)
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise SettingsError(
            f"{name}: must be 32 bytes in URL-safe base64, as Fernet.generate_key() makes "
            '(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        )
    return value


def _data_key_file(env: dict[str, str]) -> Path | None:
    raw = env.get("DATA_KEY_FILE", "").strip()
    return Path(raw) if raw else None


def _data_key(env: dict[str, str]) -> str:
    """DATA_KEY, or the contents of DATA_KEY_FILE (a secrets mount, a tmpfs, a systemd credential).

    The file's contents are never echoed in an error: only its path and what is wrong with it.
    """
    path = _data_key_file(env)
    if path is None:
        return _fernet_key(env, "DATA_KEY")
    if env.get("DATA_KEY", "").strip():
        raise SettingsError("DATA_KEY_FILE: set DATA_KEY or DATA_KEY_FILE, not both")
    try:
        contents = path.read_bytes().decode("ascii")
    except OSError as exc:
        raise SettingsError(f"DATA_KEY_FILE: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        contents = "-"  # not a key; reported as such below
    if not contents.strip():
        raise SettingsError(f"DATA_KEY_FILE: {path} is empty")
    return _fernet_key({"DATA_KEY_FILE": contents}, "DATA_KEY_FILE")


def _database_url(env: dict[str, str]) -> str:
    value = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    # Heroku still hands out postgres://, which SQLAlchemy no longer accepts.
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    scheme = value.split(":", 1)[0]
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise SettingsError("DATABASE_URL: must be a sqlite:/// or postgres:// URL")
    return value


def _url(env: dict[str, str], name: str, default: str, *, schemes: set[str], optional: bool = False) -> str:
    value = env.get(name, "").strip() or default
    if optional and not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.netloc):
        raise SettingsError(f"{name}: must be a URL starting with {' or '.join(sorted(s + '://' for s in schemes))}")
    return value


def _int(env: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, *, low: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a number, got {raw!r}") from None
    if value != value or value < low:  # NaN or too small
        raise SettingsError(f"{name}: must be a number of at least {low}, got {raw!r}")
    return value


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise SettingsError(f"{name}: must be on or off, got {raw!r}")
    return raw == "on"


def _region(env: dict[str, str]) -> str:
    value = (env.get("DEFAULT_REGION", "").strip() or "US").upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(f"DEFAULT_REGION: {value!r} is not a two-letter region code like US or MX")
    return value


def _twilio_sid(env: dict[str, str], name: str, prefix: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not (value.startswith(prefix) and len(value) == 34 and all(c in "0123456789abcdefABCDEF" for c in value[2:])):
        raise SettingsError(f"{name}: must be {prefix} followed by 32 hexadecimal characters")
    return value


def _optional_secret(env: dict[str, str], name: str) -> Secret | None:
    value = env.get(name, "").strip()
    return Secret(value) if value else None


def _from_number(env: dict[str, str]) -> str | None:
    value = env.get("TWILIO_FROM_NUMBER", "").strip()
    if not value:
        return None
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise SettingsError("TWILIO_FROM_NUMBER: must be a phone number in E.164 form, like +15551234567")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _path(env: dict[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    path = Path(raw) if raw else default
    if not path.is_file():
        raise SettingsError(f"{name}: no such file: {path}")
    return path
