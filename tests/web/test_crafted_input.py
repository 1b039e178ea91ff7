"""Crafted input never reaches a 500 and no redirect leaves our host: `next`, ids from outside."""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT_SID, FROM_NUMBER, signed_post
from tests.web.test_console_auth import EMAIL, PASSWORD, add_coordinator, sign_in

HUGE = "99999999999999999999"


@pytest.mark.parametrize("evil", [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", "/ /evil.example",
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/",
    "javascript:alert(1)", "evil.example", "/incidents\r\nSet-Cookie: x=1", "/%0d%0aSet-Cookie:x=1\x00",
    "/incidents\x7f", " /incidents",
])
def test_sign_in_never_redirects_off_site_or_fails_on_a_crafted_next(client, svc, evil):
    """Whatever `next` holds (tabs, CR/LF, backslashes, schemes), signing in lands on a path of ours."""
    add_coordinator(svc)
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": evil})
    assert response.status_code == 302
    assert response.headers["Location"] == "/incidents"


@pytest.mark.parametrize("evil", ["/\t/evil.example", "/\r\n/x", "//evil.example"])
def test_login_page_does_not_carry_a_crafted_next(client, svc, evil):
    """GET /login?next=... only puts a same-host path into the form."""
    response = client.get("/login", query_string={"next": evil})
    assert response.status_code == 200
    assert b"evil.example" not in response.data and b'name="next" type="hidden" value=""' in response.data


def test_a_same_host_path_with_a_query_is_still_followed(client, svc):
    """The safe-`next` check still lets a coordinator return to the page they asked for."""
    add_coordinator(svc)
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                           "next": "/incidents/3?tab=thread"})
    assert response.headers["Location"] == "/incidents/3?tab=thread"


@pytest.mark.parametrize("ident", [HUGE, "2147483648", "0", "-1", "1e3", "٣"])
def test_incident_ids_out_of_range_are_not_found(client, svc, ident):
    """An incident id that cannot exist (too large, zero, negative, not ASCII digits) is a 404."""
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    assert client.get(f"/incidents/{ident}").status_code == 404
    assert client.post(f"/incidents/{ident}/decision", data={"decision": "resolve"}).status_code == 404
    assert client.post(f"/incidents/{ident}/notes", data={"body": "hi"}).status_code == 404


def status_callback(client, query: str, **extra: str):
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID,
              "From": FROM_NUMBER, "To": "+12125550130", **extra}
    return signed_post(client, "/twilio/status", params, query=query)


@pytest.mark.parametrize("query", [f"m={HUGE}", "m=2147483648", "m=-1", "m=abc", "m=1&m=2", "m=%00"])
def test_status_callback_with_a_crafted_message_id_is_a_400(client, svc, query):
    """A signed callback whose ?m= is no id of ours is refused clearly (400), never a 500."""
    assert status_callback(client, query).status_code == 400


@pytest.mark.parametrize("extra", [{"ErrorCode": HUGE}, {"MessageSid": "SM" + "a" * 100},
                                   {"MessageStatus": "x" * 100}])
def test_status_callback_with_crafted_fields_is_a_400(client, svc, extra):
    """An error code, SID or status no real callback has is refused (400), never a 500."""
    assert status_callback(client, "m=1", **extra).status_code == 400
