"""The service client's transport: tokens per scope and their lifetime, retries and their pauses, redirects."""

import pytest

from ibal_xblock.config import ServiceConfig
from ibal_xblock.openedx.errors import GatewayError
from ibal_xblock.openedx.gateway_client import SCOPE_INDEX, SCOPE_RETIREMENT, GatewayClient
from tests.openedx.conftest import CLIENT_ID, CLIENT_SECRET
from tests.openedx.gateway_proxy import GatewayProxy

HASHES = "/api/v1/index/courses/course-v1%3AX%2BY%2BZ/hashes"


def client_for(gateway, **options):
    return GatewayClient(ServiceConfig(gateway.url, CLIENT_ID, CLIENT_SECRET), **options)


def test_one_token_per_scope_kept_until_30_seconds_before_it_expires(gateway):
    client = client_for(gateway)
    for _ in range(3):
        client.call("GET", HASHES, SCOPE_INDEX)
    client.call("POST", "/api/v1/retirement", SCOPE_RETIREMENT, {"username": "ada", "lms_user_id": 1})
    assert gateway.endpoints() == [
        "POST /oauth2/token",
        *["GET /api/v1/index/courses/{course}/hashes"] * 3,
        "POST /oauth2/token",
        "POST /api/v1/retirement",
    ]
    assert len(gateway.issued_tokens) == 2
    index_call, retirement_call = gateway.api_requests()[2:]
    assert index_call.headers["Authorization"] == f"Bearer {gateway.issued_tokens[0]}"
    assert retirement_call.headers["Authorization"] == f"Bearer {gateway.issued_tokens[1]}"
    # Another client of the same process (another Celery task) reuses the token.
    client_for(gateway).call("GET", HASHES, SCOPE_INDEX)
    assert len(gateway.issued_tokens) == 2


def test_a_token_about_to_expire_is_not_reused(real_gateway):
    gateway = GatewayProxy(real_gateway, token_lifetime=30)
    try:
        client = client_for(gateway)
        client.call("GET", HASHES, SCOPE_INDEX)
        client.call("GET", HASHES, SCOPE_INDEX)
        assert len(gateway.issued_tokens) == 2
    finally:
        gateway.stop()


def test_retries_pause_with_backoff(gateway):
    pauses = []
    gateway.fail(502, times=3)
    answer = client_for(gateway, backoff=(0.5, 1.0, 2.0), sleep=pauses.append).call("GET", HASHES, SCOPE_INDEX)
    assert answer == {"course_id": "course-v1:X+Y+Z", "hashes": {}}
    assert pauses == [0.5, 1.0, 2.0]


def test_client_errors_are_not_retried(gateway):
    pauses = []
    with pytest.raises(GatewayError) as info:
        client_for(gateway, sleep=pauses.append).call("GET", "/api/v1/nothing", SCOPE_INDEX)
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert str(info.value) == "GET /api/v1/nothing: the gateway answered 404 (not_found: No such resource.)"
    assert pauses == []


def test_redirects_are_not_followed(real_gateway):
    elsewhere = GatewayProxy(real_gateway)
    gateway = GatewayProxy(real_gateway, redirect_to=elsewhere.url)
    try:
        with pytest.raises(GatewayError, match="answered 307"):
            client_for(gateway).call("GET", HASHES, SCOPE_INDEX)
        assert elsewhere.requests == []
    finally:
        gateway.stop()
        elsewhere.stop()


def test_an_answer_that_is_not_json(gateway, monkeypatch):
    def a_proxy_page(*args, **kwargs):  # noqa: ARG001 - stands in for GatewayClient._send
        return 200, b"<html>proxy error</html>"

    client = client_for(gateway)
    monkeypatch.setattr(client, "_send", a_proxy_page)
    with pytest.raises(GatewayError, match=r"a service token \(scope index\): the gateway's answer is not JSON"):
        client.call("GET", HASHES, SCOPE_INDEX)
