"""The client honours the proxy and CA bundle variables as requests does, read once per origin."""

from __future__ import annotations

import pytest
import responses

from worker.clients import transport


def _send(sender: transport.Transport, url: str, http: responses.RequestsMock) -> dict[str, object]:
    http.add(responses.GET, url, json={})
    sender.send("GET", url)
    request = http.calls[-1].request
    return request.req_kwargs  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def sender() -> transport.Transport:
    return transport.Transport(timeout=(1.0, 1.0), user_agent="credsync-test/1", pool_maxsize=1)


def test_a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch, sender: transport.Transport, http: responses.RequestsMock
) -> None:
    # Given a proxy for https, and a host that bypasses it
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/our-ca.pem")
    # When requests go to both hosts
    proxied = _send(sender, "https://credentials.example/api/v2/credentials/", http)
    direct = _send(sender, "https://direct.example/api/v2/credentials/", http)
    # Then the first goes through the proxy, the second does not, both verify with the bundle
    assert proxied["proxies"].get("https") == "http://proxy.example:3128"  # type: ignore[attr-defined]
    assert not direct["proxies"].get("https")  # type: ignore[attr-defined]
    assert proxied["verify"] == direct["verify"] == "/etc/ssl/our-ca.pem"


def test_the_environment_is_read_once_per_origin_not_on_every_request(
    monkeypatch: pytest.MonkeyPatch, sender: transport.Transport, http: responses.RequestsMock
) -> None:
    # Given a first request made with a proxy in the environment
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    _send(sender, "https://credentials.example/a/", http)
    # When the variable goes away and the same origin is asked again
    monkeypatch.delenv("HTTPS_PROXY")
    again = _send(sender, "https://credentials.example/b/", http)
    # Then the proxy read the first time still holds (a change needs a restart, as documented)
    assert again["proxies"].get("https") == "http://proxy.example:3128"  # type: ignore[attr-defined]
