"""STATUS_CALLBACK_BASE_URL: status callbacks can go to a web process of their own, so a fan-out's
callbacks never take the capacity members' texts need."""

from __future__ import annotations

import pytest

from rapidresponse.messaging.sender import status_callback_url
from rapidresponse.settings import Settings, SettingsError
from tests import conftest
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, sign

STATUS_BASE = "https://status.rr.example.org"


@pytest.fixture
def pool_svc(tmp_path, database_url):
    env = conftest.test_env(tmp_path, database_url, STATUS_CALLBACK_BASE_URL=STATUS_BASE + "/")
    with conftest.fresh_services(Settings.from_env(env)) as services:
        yield services


def post(client, base: str):
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "sent", "AccountSid": ACCOUNT_SID,
              "From": FROM_NUMBER, "To": "+12125550130"}
    return client.post("/twilio/status?m=7", data=params,
                       headers={"X-Twilio-Signature": sign(f"{base}/twilio/status?m=7", params)})


def test_texts_ask_twilio_to_call_the_status_pool(pool_svc):
    """Each text's StatusCallback points at STATUS_CALLBACK_BASE_URL."""
    assert status_callback_url(pool_svc, 7) == f"{STATUS_BASE}/twilio/status?m=7"


def test_callbacks_signed_for_either_address_verify(pool_svc):
    """A callback to the status pool verifies, and so does one for a text sent before the setting."""
    client = conftest.testing_app(pool_svc).test_client()
    assert post(client, STATUS_BASE).status_code == 204
    assert post(client, conftest.PUBLIC_BASE_URL).status_code == 204
    assert post(client, "https://evil.example").status_code == 403


def test_inbound_texts_are_not_accepted_at_the_status_address(pool_svc):
    """Only status callbacks may be signed for the status address; an inbound text signed so is 403."""
    client = conftest.testing_app(pool_svc).test_client()
    params = {"MessageSid": "SM" + "c" * 32, "From": "+12125550130", "To": FROM_NUMBER, "Body": "HELP"}
    response = client.post("/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": sign(f"{STATUS_BASE}/twilio/sms", params)})
    assert response.status_code == 403


def test_without_the_setting_callbacks_go_to_the_public_address(svc):
    """Unset, status callbacks go to PUBLIC_BASE_URL as before."""
    assert status_callback_url(svc, 7) == f"{conftest.PUBLIC_BASE_URL}/twilio/status?m=7"


def test_a_bad_status_callback_base_url_fails_at_start_up(tmp_path):
    """A value that is not an http(s) URL stops start-up, naming the setting."""
    env = conftest.test_env(tmp_path, "sqlite://", STATUS_CALLBACK_BASE_URL="status.example.org")
    with pytest.raises(SettingsError, match="^STATUS_CALLBACK_BASE_URL: "):
        Settings.from_env(env)
