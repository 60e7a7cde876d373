"""Start-up errors show the URL of the setting with its password as ***: never the password, always
everything else needed to find the server (scheme, user, host, port, path)."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from gateways.cli.startup import _unreachable, mask_url

secrets_ = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=40).map(lambda s: "pw" + s)


@given(password=secrets_, user=st.sampled_from(["", "platform", "parking"]), host=st.sampled_from(["127.0.0.1", "broker", "[::1]"]),
       port=st.integers(1, 65535), scheme=st.sampled_from(["redis", "mqtt", "postgresql+psycopg"]))
def test_the_password_never_shows_and_the_rest_stays(password, user, host, port, scheme):
    url = f"{scheme}://{user}:{quote(password, safe='')}@{host}:{port}/0"
    masked = mask_url(url)
    assert quote(password, safe="") not in masked and password not in masked
    a, b = urlsplit(url), urlsplit(masked)
    assert (b.scheme, b.username or "", b.hostname, b.port, b.path, b.password) == (a.scheme, a.username or "", a.hostname, a.port, a.path, "***")


def test_a_url_without_password_is_unchanged():
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_driver_message_quoting_the_password_is_masked_too():
    err = _unreachable("REDIS_URL", "redis://:hunter22@127.0.0.1:1/0", RuntimeError("auth failed for hunter22\nsecond line"))
    assert "hunter22" not in err.message and err.field == "REDIS_URL" and "\n" not in err.message
