"""OAuth 1.0a signing against the worked example of X's "Creating a signature" guide."""

from __future__ import annotations

from urllib.parse import unquote

from adapters.social import oauth1

URL = "https://api.twitter.com/1.1/statuses/update.json"
CONSUMER_KEY = "xvz1evFS4wEEPTGEFPHBog"
CONSUMER_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
TOKEN = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
TOKEN_SECRET = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
TIMESTAMP = 1318622958
PARAMS = {
    "include_entities": "true",
    "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
}
OAUTH = {
    "oauth_consumer_key": CONSUMER_KEY,
    "oauth_nonce": NONCE,
    "oauth_signature_method": "HMAC-SHA1",
    "oauth_timestamp": str(TIMESTAMP),
    "oauth_token": TOKEN,
    "oauth_version": "1.0",
}
DOCUMENTED_BASE = (
    "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue"
    "%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2"
    "pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_"
    "token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3D"
    "Hello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
)


def test_base_string_matches_the_documented_one() -> None:
    params = [*PARAMS.items(), *OAUTH.items()]
    assert oauth1.base_string("post", URL, params) == DOCUMENTED_BASE


def test_signature_of_the_documented_example() -> None:
    params = [*PARAMS.items(), *OAUTH.items()]
    sig = oauth1.signature("POST", URL, params, CONSUMER_SECRET, TOKEN_SECRET)
    assert sig == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def test_header_carries_every_oauth_value_and_signs_the_query() -> None:
    header = oauth1.authorization_header(
        "POST",
        URL,
        PARAMS,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        token=TOKEN,
        token_secret=TOKEN_SECRET,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )
    assert header.startswith("OAuth ")
    fields = dict(part.split("=", 1) for part in header[6:].split(", "))
    values = {k: unquote(v.strip('"')) for k, v in fields.items()}
    assert values["oauth_signature"] == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="
    assert values["oauth_consumer_key"] == CONSUMER_KEY
    assert "status" not in values  # request parameters are signed, not sent in the header


def test_fresh_nonce_per_header() -> None:
    kw = dict(consumer_key="k", consumer_secret="s", token="t", token_secret="ts")
    assert oauth1.authorization_header("GET", URL, {}, **kw) != oauth1.authorization_header(
        "GET", URL, {}, **kw
    )
