import pytest

from courant.origin import origin_allowed

HOSTS = ["example.com", ".example.org"]


def allowed(origin, *, host="example.com", hosts=HOSTS, trusted=(), extra=(), secure=False):
    return origin_allowed(
        origin,
        host=host,
        allowed_hosts=hosts,
        trusted_origins=trusted,
        allowed_origins=extra,
        secure=secure,
    )


def test_no_origin_is_a_non_browser_client_and_passes():
    assert allowed(None)


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com",
        "http://example.com:8000",
        "https://EXAMPLE.com/",
        "https://www.example.org",
    ],
)
def test_origins_on_allowed_hosts_pass(origin):
    assert allowed(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://example.com.evil.example",
        "https://notexample.com",
        "null",
        "file://",
        "chrome-extension://abc",
        "https://",
        "garbage",
        "http://[::1",
        "http://[zz]:80",
        "http://exa mple.com",
    ],
)
def test_foreign_or_opaque_origins_are_refused(origin):
    assert not allowed(origin)


def test_csrf_trusted_origins_including_wildcards():
    trusted = ["https://partner.example", "https://*.trusted.example"]
    assert allowed("https://partner.example", trusted=trusted)
    assert allowed("https://app.trusted.example", trusted=trusted)
    assert not allowed("http://app.trusted.example", trusted=trusted)  # the scheme counts
    assert not allowed("https://partner.example.evil", trusted=trusted)


def test_courant_allowed_origins_and_the_switch_off():
    assert allowed("https://tool.example", extra=("https://tool.example",))
    assert not allowed("https://other.example", extra=("https://tool.example",))
    assert allowed("https://anything.example", extra=("*",))


def test_wildcard_allowed_hosts_still_require_the_same_origin():
    assert allowed("https://shop.example:8443", host="shop.example:8443", hosts=["*"])
    assert not allowed("https://evil.example", host="shop.example:8443", hosts=["*"])
    assert not allowed("https://evil.example", host=None, hosts=["*"])


def test_a_secure_request_needs_a_secure_origin():
    assert allowed("https://example.com", secure=True)
    assert not allowed("http://example.com", secure=True)
    assert not allowed("http://shop.example", host="shop.example", hosts=["*"], secure=True)
    # Listing an http origin explicitly is a deliberate choice, and is honoured.
    assert allowed("http://example.com", secure=True, extra=("http://example.com",))
