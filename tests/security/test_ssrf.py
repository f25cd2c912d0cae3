"""SSRF, at the forms: the Mastodon instance and the Bluesky PDS fields refuse internal addresses before any
connection is made, and a public server that redirects inward is refused when the redirect is seen.

Names resolve through a stub resolver, the transport is a stub, and every
socket connect fails the test: no traffic leaves the test, not even to
loopback. (The HTTP seam itself, address by address: tests/platforms/test_http.py.)
"""

from __future__ import annotations

import functools
import socket

import pytest
import requests
from django.urls import reverse

from relationships.models import MastodonApp, Source
from relationships.platforms import http
from relationships.services.intake import connect

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
NAMES = {
    "public.example": [PUBLIC],
    "intranet.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": [PUBLIC, "127.0.0.1"],
    "ula.example": ["fd00::1"],
    "internal.example": ["192.168.1.5"],
}
REFUSED = [
    "http://127.0.0.1",
    "https://127.0.0.1",
    "https://169.254.169.254",
    "https://[::1]",
    "https://0x7f000001",
    "https://[::ffff:10.0.0.1]",
    "https://127.1",
    "https://017700000001",
    "https://[fe80::1]",
    "10.0.0.1",
    "https://intranet.example",
    "https://metadata.example",
    "https://mixed.example",
    "https://ula.example",
    "http://public.example",
    "ftp://public.example",
    "gopher://public.example",
    "file:///etc/passwd",
    "https://user:pass@public.example",
]
LITERALS = ("127.", "169.254", "[", "0x", "017", "10.0.0.1")

FORMS = {
    "connect_mastodon": lambda address: {"instance": address},
    "connect_mastodon (token)": lambda address: {"instance": address, "token": "a-pasted-token-" + "x" * 20},
    "connect_bluesky": lambda address: {"handle": "alice.test", "app_password": "abcd-efgh-ijkl-mnop",
                                        "service": address},
}


@pytest.fixture
def network(monkeypatch, settings):
    """Private hosts refused (production), a stub resolver, and no socket may connect."""
    settings.RAPPORT_ALLOW_PRIVATE_HOSTS = False
    seen = {"resolved": [], "connects": [], "transport": []}

    def resolve(host, port, *args, **kwargs):
        seen["resolved"].append(host)
        if host not in NAMES:
            raise socket.gaierror(f"stub resolver does not know {host}")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in NAMES[host]]

    def connect_socket(self, address):
        seen["connects"].append(address)
        raise AssertionError(f"a socket connected to {address}")

    def real_dns(*args, **kwargs):
        raise AssertionError(f"real DNS was asked for {args[:1]}")

    monkeypatch.setattr(socket.socket, "connect", connect_socket)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_socket)
    monkeypatch.setattr(socket, "getaddrinfo", real_dns)
    # The forms' check and every session the connect service makes resolve through the stub.
    monkeypatch.setattr(connect, "validate_base_url", functools.partial(http.validate_base_url, resolver=resolve))
    monkeypatch.setattr(connect, "SESSION_OPTIONS", {"resolver": resolve, "sleep": lambda s: None})
    return seen


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("address", REFUSED)
def test_an_internal_or_non_https_server_address_is_refused_before_any_connection(alice_client, network, form,
                                                                                 address):
    name = form.split(" ")[0]
    response = alice_client.post(reverse(name), FORMS[form](address))

    assert response.status_code == 400
    assert "This server address cannot be used" in response.content.decode()
    assert network["connects"] == []
    if address.startswith(("http://1", "https://1", "https://[", "https://0", "1")):
        assert network["resolved"] == [], "a literal address must be judged without asking a resolver"
    assert not Source.objects.exists() and not MastodonApp.objects.exists()


def test_the_metadata_address_stays_refused_even_where_private_hosts_are_allowed(alice_client, network, settings):
    settings.RAPPORT_ALLOW_PRIVATE_HOSTS = True
    for form in FORMS:
        response = alice_client.post(reverse(form.split(" ")[0]), FORMS[form]("http://169.254.169.254"))
        assert response.status_code == 400 and "This server address cannot be used" in response.content.decode()
    assert network["connects"] == []


@pytest.fixture
def redirecting_inward(monkeypatch, network):
    """public.example answers every request with a redirect to ``target``; the hops that reached the transport."""
    hops: list[str] = []
    target = {"location": "https://internal.example/admin"}

    def transport(self, request, **kwargs):
        hops.append(request.url)
        response = requests.Response()
        response.status_code = 302
        response.headers["Location"] = target["location"]
        response.url, response.request, response._content = request.url, request, b""
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", transport)
    return hops, target


@pytest.mark.parametrize("location", [
    "https://internal.example/admin",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/",
    "http://public.example/plain-http",
])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_public_server_that_redirects_inward_is_refused_when_the_redirect_is_seen(
    alice_client, network, redirecting_inward, form, location
):
    hops, target = redirecting_inward
    target["location"] = location

    response = alice_client.post(reverse(form.split(" ")[0]), FORMS[form]("https://public.example"))

    assert response.status_code == 400, response.content.decode()[:500]
    assert "This server address cannot be used" in response.content.decode()
    assert hops and all(hop.startswith("https://public.example/") for hop in hops), hops
    assert network["connects"] == []
    assert not Source.objects.exists() and not MastodonApp.objects.exists()
