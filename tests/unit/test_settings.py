"""Settings.from_env: embedded defaults, one clear error per bad variable, and secrets never shown."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from rapidresponse.settings import DEFAULT_DATABASE_URL, DEFAULT_TREES_FILE, Settings, SettingsError

SECRET_KEY = "settings-test-secret-key-0123"
DATA_KEY = Fernet.generate_key().decode()
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "settings-test-auth-token-987654"
SERVICE_SID = "MG" + "fedcba9876543210" * 2


def minimal(**overrides: str | None) -> dict[str, str]:
    """The two settings that have no default, plus whatever the case changes."""
    env: dict[str, str | None] = {"SECRET_KEY": SECRET_KEY, "DATA_KEY": DATA_KEY}
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def test_defaults_need_only_the_two_keys():
    """With only SECRET_KEY and DATA_KEY set, everything else runs on the embedded defaults."""
    settings = Settings.from_env(minimal())
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/instance/rapidresponse.sqlite3")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.port == 5000
    assert settings.public_base_url == "http://localhost:5000"
    assert settings.default_region == "US"
    assert settings.trees_file == DEFAULT_TREES_FILE
    assert settings.provider_name == "simulator"
    assert settings.twilio_account_sid is None and settings.twilio_auth_token is None


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"DATABASE_URL": "postgres://rr:pw@db.example.org/rr"},
         lambda s: s.database_url == "postgresql+psycopg://rr:pw@db.example.org/rr"),
        ({"DATABASE_URL": "postgresql://rr@db/rr"}, lambda s: s.database_url == "postgresql+psycopg://rr@db/rr"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, lambda s: s.database_url == "sqlite:////tmp/x.sqlite3"),
        ({"REDIS_URL": "rediss://:pw@cache.example.org:6380/1"},
         lambda s: s.redis_url == "rediss://:pw@cache.example.org:6380/1"),
        ({"PORT": "8080"}, lambda s: s.port == 8080),
        ({"PUBLIC_BASE_URL": "https://rr.example.org/"}, lambda s: s.public_base_url == "https://rr.example.org"),
        ({"DEFAULT_REGION": "mx"}, lambda s: s.default_region == "MX"),
        ({"SEND_RATE_SEGMENTS_PER_SECOND": "0"}, lambda s: s.send_rate_segments_per_second == 0.0),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
          "TWILIO_FROM_NUMBER": "+1 (212) 555-0100"},
         lambda s: s.provider_name == "twilio" and s.twilio_from_number == "+12125550100"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
          "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID},
         lambda s: s.provider_name == "twilio" and s.sender_id == SERVICE_SID),
        ({}, lambda s: s.web_bind == "127.0.0.1:5000" and not s.simulator_allow_remote),
        ({"LISTEN_HOST": "0.0.0.0", "PORT": "8080"}, lambda s: s.web_bind == "0.0.0.0:8080"),
        ({"LISTEN_HOST": "::"}, lambda s: s.web_bind == "[::]:5000"),
        ({"LISTEN_HOST": "localhost"}, lambda s: s.listen_host == "127.0.0.1"),
        ({"SIMULATOR_ALLOW_REMOTE": "True"}, lambda s: s.simulator_allow_remote),
        ({"SIMULATOR_ALLOW_REMOTE": "no"}, lambda s: not s.simulator_allow_remote),
    ],
    ids=["postgres-rewritten", "postgresql-rewritten", "sqlite", "rediss", "port", "base-url-slash",
         "region-lowercase", "rate-zero", "twilio-number", "twilio-messaging-service", "loopback-by-default",
         "listen-everywhere", "listen-ipv6", "listen-localhost", "simulator-remote", "simulator-local"],
)
def test_good_values_are_accepted(overrides, check):
    """Well-formed values are accepted and normalised (postgres:// gets the psycopg driver)."""
    assert check(Settings.from_env(minimal(**overrides)))


BAD = [
    # (name of the variable the error must start with, overrides)
    ("SECRET_KEY", {"SECRET_KEY": None}),
    ("SECRET_KEY", {"SECRET_KEY": "   "}),
    ("SECRET_KEY", {"SECRET_KEY": "short-secret"}),
    ("DATA_KEY", {"DATA_KEY": None}),
    ("DATA_KEY", {"DATA_KEY": "not base64 at all!"}),
    ("DATA_KEY", {"DATA_KEY": base64.urlsafe_b64encode(b"k" * 16).decode()}),
    ("DATA_KEY", {"DATA_KEY": base64.urlsafe_b64encode(b"k" * 48).decode()}),
    ("DATABASE_URL", {"DATABASE_URL": "mysql://rr:hunter2-db-password@db/rr"}),
    ("DATABASE_URL", {"DATABASE_URL": "rapidresponse.sqlite3"}),
    ("REDIS_URL", {"REDIS_URL": "http://127.0.0.1:6379/0"}),
    ("REDIS_URL", {"REDIS_URL": "redis://"}),
    ("PORT", {"PORT": "0"}),
    ("PORT", {"PORT": "70000"}),
    ("PORT", {"PORT": "abc"}),
    ("PUBLIC_BASE_URL", {"PUBLIC_BASE_URL": "ftp://rr.example.org"}),
    ("PUBLIC_BASE_URL", {"PUBLIC_BASE_URL": "rr.example.org"}),
    ("DEFAULT_REGION", {"DEFAULT_REGION": "ZZ"}),
    ("DEFAULT_REGION", {"DEFAULT_REGION": "USA"}),
    ("TWILIO_ACCOUNT_SID", {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_FROM_NUMBER": "+12125550100"}),
    ("TWILIO_ACCOUNT_SID", {"TWILIO_ACCOUNT_SID": "MG" + ACCOUNT_SID[2:], "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_FROM_NUMBER": "+12125550100"}),
    ("TWILIO_ACCOUNT_SID", {"TWILIO_ACCOUNT_SID": "AC" + "z" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_FROM_NUMBER": "+12125550100"}),
    ("TWILIO_ACCOUNT_SID", {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}),
    ("TWILIO_AUTH_TOKEN", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_FROM_NUMBER": "+12125550100"}),
    ("TWILIO_FROM_NUMBER", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}),
    ("TWILIO_FROM_NUMBER", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_FROM_NUMBER": "call me maybe"}),
    ("TWILIO_FROM_NUMBER", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_FROM_NUMBER": "+1"}),
    ("TWILIO_MESSAGING_SERVICE_SID", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                                      "TWILIO_MESSAGING_SERVICE_SID": "MG-not-a-sid"}),
    ("TWILIO_MESSAGING_SERVICE_SID", {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                                      "TWILIO_MESSAGING_SERVICE_SID": ACCOUNT_SID}),
    ("TREES_FILE", {"TREES_FILE": "/nonexistent/rapidresponse/trees.toml"}),
    ("SEND_RATE_SEGMENTS_PER_SECOND", {"SEND_RATE_SEGMENTS_PER_SECOND": "-1"}),
    ("SEND_RATE_SEGMENTS_PER_SECOND", {"SEND_RATE_SEGMENTS_PER_SECOND": "nan"}),
    ("SEND_RATE_SEGMENTS_PER_SECOND", {"SEND_RATE_SEGMENTS_PER_SECOND": "fast"}),
    ("SEND_TIMEOUT_SECONDS", {"SEND_TIMEOUT_SECONDS": "0"}),
    ("SEND_TIMEOUT_SECONDS", {"SEND_TIMEOUT_SECONDS": "10", "SEND_LEASE_SECONDS": "10"}),
    ("LOOKUP_TIMEOUT_SECONDS", {"LOOKUP_TIMEOUT_SECONDS": "soon"}),
    ("LISTEN_HOST", {"LISTEN_HOST": "everywhere"}),
    ("LISTEN_HOST", {"LISTEN_HOST": "127.0.0.1:5000"}),
    ("SIMULATOR_ALLOW_REMOTE", {"SIMULATOR_ALLOW_REMOTE": "maybe"}),
    ("PROVIDER_DELETE", {"PROVIDER_DELETE": "maybe"}),
    ("PROVIDER_DELETE", {"PROVIDER_DELETE": "yes"}),
    ("PROVIDER_DELETE_DELAY_SECONDS", {"PROVIDER_DELETE_DELAY_SECONDS": "-1"}),
    ("PROVIDER_DELETE_DELAY_SECONDS", {"PROVIDER_DELETE_DELAY_SECONDS": "soon"}),
]


@pytest.mark.parametrize(("name", "overrides"), BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_value_names_the_variable(name, overrides):
    """Each missing or malformed value stops start-up with an error that starts with its variable's name."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(minimal(**overrides))
    assert str(caught.value).startswith(f"{name}:")


@pytest.mark.parametrize(
    "overrides",
    [
        {"SECRET_KEY": "short-secret"},
        {"DATA_KEY": "not-a-fernet-key-but-secret"},
        {"DATABASE_URL": "mysql://rr:hunter2-db-password@db/rr"},
    ],
    ids=["secret-key", "data-key", "database-password"],
)
def test_errors_do_not_echo_secrets(overrides):
    """The one-line error about a bad secret does not print the secret itself."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(minimal(**overrides))
    message = str(caught.value)
    for value in overrides.values():
        assert value not in message
    assert "hunter2" not in message


def test_trees_file_that_exists_is_used(tmp_path: Path):
    """TREES_FILE pointing at a real file is taken as given."""
    trees = tmp_path / "trees.toml"
    trees.write_text("", encoding="utf-8")
    assert Settings.from_env(minimal(TREES_FILE=str(trees))).trees_file == trees


def test_repr_never_shows_secrets():
    """Printing or logging the settings shows no SECRET_KEY, DATA_KEY or Twilio auth tokens."""
    settings = Settings.from_env(minimal(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_AUTH_TOKEN_PREVIOUS="previous-auth-token-55555", TWILIO_FROM_NUMBER="+12125550100",
    ))
    for shown in (repr(settings), str(settings), f"{settings!r}", repr(settings.data_key)):
        for secret in (SECRET_KEY, DATA_KEY, AUTH_TOKEN, "previous-auth-token-55555"):
            assert secret not in shown
    # The values themselves are still usable where they are needed.
    assert str(settings.secret_key) == SECRET_KEY and str(settings.twilio_auth_token) == AUTH_TOKEN


def test_repr_never_shows_url_passwords():
    """Printing or logging the settings does not show the database or Redis password."""
    settings = Settings.from_env(minimal(DATABASE_URL="postgres://rr:hunter2-db-password@db/rr",
                                         REDIS_URL="redis://:hunter3-redis-password@cache:6379/0"))
    assert "hunter2" not in repr(settings)
    assert "hunter3" not in repr(settings)


def test_a_malformed_previous_data_key_names_itself_and_a_good_one_still_decrypts():
    """DATA_KEY_PREVIOUS is checked like DATA_KEY, and tokens under it open during a rotation."""
    from cryptography.fernet import Fernet

    from rapidresponse.privacy.crypto import FieldCipher

    with pytest.raises(SettingsError, match="^DATA_KEY_PREVIOUS:"):
        Settings.from_env(minimal(DATA_KEY_PREVIOUS="not-a-key"))
    old = Fernet.generate_key().decode()
    settings = Settings.from_env(minimal(DATA_KEY_PREVIOUS=old))
    assert old not in repr(settings)
    token = FieldCipher(old).encrypt("+12125550123")
    assert FieldCipher(str(settings.data_key), str(settings.data_key_previous)).decrypt(token) == "+12125550123"


def test_data_key_can_come_from_a_file_and_is_never_shown(tmp_path):
    """DATA_KEY_FILE (a secrets mount, a tmpfs) gives the key; its path is kept, the key never printed."""
    key_file = tmp_path / "data_key"
    key_file.write_text(DATA_KEY + "\n", encoding="ascii")
    settings = Settings.from_env(minimal(DATA_KEY=None, DATA_KEY_FILE=str(key_file)))
    assert str(settings.data_key) == DATA_KEY
    assert settings.data_key_file == key_file
    assert DATA_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("contents", "expected"),
    [(None, "cannot read"), ("", "is empty"), ("not a key", "32 bytes"), (b"\xff\xfe", "32 bytes")],
    ids=["missing", "empty", "garbage", "binary"],
)
def test_a_bad_data_key_file_names_itself_and_not_its_contents(tmp_path, contents, expected):
    """A missing, empty or malformed DATA_KEY_FILE is one error naming DATA_KEY_FILE, never echoing the file."""
    key_file = tmp_path / "data_key"
    if isinstance(contents, bytes):
        key_file.write_bytes(contents)
    elif contents is not None:
        key_file.write_text(contents, encoding="ascii")
    with pytest.raises(SettingsError, match="^DATA_KEY_FILE:") as raised:
        Settings.from_env(minimal(DATA_KEY=None, DATA_KEY_FILE=str(key_file)))
    assert expected in str(raised.value)
    if contents:
        assert "not a key" not in str(raised.value)


def test_data_key_and_data_key_file_together_are_refused(tmp_path):
    """Two sources for one key is ambiguous: start-up names DATA_KEY_FILE and stops."""
    key_file = tmp_path / "data_key"
    key_file.write_text(Fernet.generate_key().decode(), encoding="ascii")
    with pytest.raises(SettingsError, match="^DATA_KEY_FILE: set DATA_KEY or DATA_KEY_FILE, not both"):
        Settings.from_env(minimal(DATA_KEY_FILE=str(key_file)))


def test_provider_delete_is_on_by_default_and_off_is_said_at_start_up():
    """Texts are deleted at the provider unless PROVIDER_DELETE=off, which web and worker announce."""
    default = Settings.from_env(minimal())
    assert default.provider_delete and default.provider_delete_delay_seconds == 300
    assert default.startup_notes == []
    off = Settings.from_env(minimal(PROVIDER_DELETE="OFF", PROVIDER_DELETE_DELAY_SECONDS="5"))
    assert not off.provider_delete and off.provider_delete_delay_seconds == 5
    assert [n.split(":")[0] for n in off.startup_notes] == ["PROVIDER_DELETE=off"]


@pytest.mark.parametrize("raw", ["fast", "-1", "nan"])
def test_calls_per_second_must_be_a_number_of_at_least_zero(raw: str) -> None:
    """A bad CALLS_PER_SECOND stops start-up naming itself."""
    with pytest.raises(SettingsError, match="^CALLS_PER_SECOND: "):
        Settings.from_env(minimal(CALLS_PER_SECOND=raw))


@pytest.mark.parametrize(("name", "raw"), [
    ("CAMPAIGN_CALLS_PER_TARGET", "0"), ("CAMPAIGN_CALLS_PER_TARGET", "many"), ("CAMPAIGN_CALLS_PER_TARGET", "51"),
    ("CAMPAIGN_CALL_MINUTES", "0"), ("CAMPAIGN_CALL_MINUTES", "241"), ("CAMPAIGN_CALL_MINUTES", "1.5"),
])
def test_a_bad_campaign_pacing_stops_start_up_naming_itself(name: str, raw: str) -> None:
    """Calls per target (1-50) and a bridged call's minutes (1-240) are checked at start-up."""
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env(minimal(**{name: raw}))


def test_campaign_pacing_defaults_to_two_calls_per_target_of_twenty_minutes() -> None:
    default = Settings.from_env(minimal())
    assert (default.campaign_calls_per_target, default.campaign_call_minutes) == (2, 20)
    assert Settings.from_env(minimal(CAMPAIGN_CALLS_PER_TARGET="5")).campaign_calls_per_target == 5


def test_calls_per_second_defaults_to_twilios_one() -> None:
    """Twilio's account default: one call started per second."""
    assert Settings.from_env(minimal()).calls_per_second == 1.0
    assert Settings.from_env(minimal(CALLS_PER_SECOND="5")).calls_per_second == 5.0


def test_calls_without_a_from_number_are_said_at_start_up():
    """With only a Messaging Service (which sends texts only), web and worker say calls cannot be placed."""
    settings = Settings.from_env(minimal(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                                         TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID))
    assert [n.split(":")[0] for n in settings.startup_notes] == ["TWILIO_FROM_NUMBER is not set"]
