"""Token checks (no I/O): signature, expiry, algorithm, claims; minting round-trips."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import AuthenticationError, JwtKeys, bearer_token, decode_token, mint

SECRET = "s" * 64
HS = JwtKeys("HS256", SECRET, SECRET)


def _claims(**extra: object) -> dict[str, object]:
    now = datetime.now(tz=UTC)
    return {"sub": "alice", "org": "acme", "roles": ["lead"], "exp": now + timedelta(hours=1), **extra}


def test_minted_token_round_trips() -> None:
    """mint() then decode_token() gives the same user, org and roles."""
    principal = decode_token(mint(HS, org="acme", user="alice", roles=["member", "viewer"]), HS)
    assert (principal.user, principal.org, principal.roles) == (
        "alice",
        "acme",
        frozenset({"member", "viewer"}),
    )
    assert principal.request_context().org_id == "acme"


@pytest.mark.parametrize(
    "bad",
    [
        jwt.encode(_claims(exp=datetime.now(tz=UTC) - timedelta(seconds=5)), SECRET, algorithm="HS256"),
        jwt.encode(_claims(), "another-secret-of-enough-length-000000", algorithm="HS256"),
        jwt.encode(_claims(), SECRET, algorithm="HS512"),
        jwt.encode({k: v for k, v in _claims().items() if k != "org"}, SECRET, algorithm="HS256"),
        jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"),
        jwt.encode(_claims(org="bad org!"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(roles=["superuser"]), SECRET, algorithm="HS256"),
        jwt.encode(_claims(roles=[]), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub=""), SECRET, algorithm="HS256"),
        "",
        "x" * 10_000,
    ],
    ids=[
        "expired",
        "other-key",
        "other-alg",
        "no-org",
        "no-exp",
        "bad-org",
        "unknown-role",
        "no-role",
        "no-sub",
        "empty",
        "huge",
    ],
)
def test_untrusted_tokens_are_refused(bad: str) -> None:
    """Expired, wrongly signed, wrong algorithm, missing or invalid claims: AuthenticationError."""
    with pytest.raises(AuthenticationError):
        decode_token(bad, HS)


def test_alg_none_is_refused() -> None:
    """An unsigned token (alg: none) is never accepted."""

    def enc(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    claims = {"sub": "eve", "org": "acme", "roles": ["admin"], "exp": 4102444800}
    unsigned = f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}."
    with pytest.raises(AuthenticationError):
        decode_token(unsigned, HS)


def test_rs256_public_key_verifies_and_hs256_with_the_public_key_is_refused() -> None:
    """RS256: tokens signed by the private key pass; an HS256 token keyed with the public PEM fails."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    keys = JwtKeys("RS256", public_pem, None)
    assert decode_token(jwt.encode(_claims(), private, algorithm="RS256"), keys).org == "acme"
    with pytest.raises(AuthenticationError):
        decode_token(jwt.encode(_claims(), public_pem[:40] * 2, algorithm="HS256"), keys)
    with pytest.raises(RuntimeError):
        mint(keys, org="acme", user="alice", roles=["admin"])


def test_issuer_and_audience_are_enforced_when_configured() -> None:
    """With an issuer and audience configured, tokens without them are refused."""
    keys = JwtKeys("HS256", SECRET, SECRET, issuer="https://idp", audience="okr")
    assert decode_token(mint(keys, org="acme", user="u", roles=["viewer"]), keys).user == "u"
    with pytest.raises(AuthenticationError):
        decode_token(mint(HS, org="acme", user="u", roles=["viewer"]), keys)


def test_bearer_header_parsing() -> None:
    """Only `Bearer <token>` headers are accepted."""
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer   "):
        with pytest.raises(AuthenticationError):
            bearer_token(bad)


def test_mint_refuses_bad_roles_and_orgs() -> None:
    """Minting checks roles and the org id format."""
    with pytest.raises(ValueError, match="roles"):
        mint(HS, org="acme", user="u", roles=["root"])
    with pytest.raises(ValueError, match="org id"):
        mint(HS, org="a b", user="u", roles=["admin"])


def test_principal_knows_when_its_token_expires() -> None:
    """The decoded principal carries `exp`, so long-lived subscriptions can end with the token."""
    fresh = decode_token(mint(HS, org="acme", user="u", roles=["viewer"]), HS)
    assert fresh.expires_at is not None
    assert not fresh.expired
    assert replace(fresh, expires_at=0.0).expired


@pytest.mark.parametrize("user", ["\u200b", "eve\u202eoj", ""])
def test_mint_refuses_a_user_that_would_spoof_the_audit_log(user: str) -> None:
    """`okr token --user` refuses what decode_token would refuse (invisible-only, bidi controls)."""
    with pytest.raises(ValueError, match="user"):
        mint(HS, org="acme", user=user, roles=["admin"])


def _token(**claims: object) -> str:
    return jwt.encode(_claims(**{"roles": ["admin"], **claims}), SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"org": "acme\n"},  # ORG_ID_PATTERN.match admits a final newline: another tenant id
        {"exp": "4102444800"},  # PyJWT accepts a numeric string: the WebSocket never expired
        {"sub": "alice\x00"},  # the actor of every event: NUL cannot be stored
        {"sub": "alice\nadmin"},
    ],
    ids=["org-final-newline", "exp-string", "sub-nul", "sub-newline"],
)
def test_token_claims_that_slipped_through_are_refused(claims: dict[str, object]) -> None:
    """Claims that once decoded (a final newline in the org, a string exp, NUL or newline in the
    user) are UNAUTHENTICATED."""
    with pytest.raises(AuthenticationError):
        decode_token(_token(**claims), HS)
    assert decode_token(_token(), HS).org == "acme"


def test_minting_refuses_an_org_with_a_final_newline() -> None:
    """`okr token` cannot mint a token for 'acme\\n' either."""
    with pytest.raises(ValueError, match="org id"):
        mint(HS, org="acme\n", user="alice", roles=["admin"])


def test_each_token_has_its_own_id_for_per_token_limits() -> None:
    """Two tokens of one user with the same expiry are two tokens (subscription caps are per
    token): the jti when there is one, else a digest of the token; the same token, the same id."""
    exp = int(time.time()) + 3600
    body = {"sub": "alice", "org": "acme", "roles": ["admin"], "exp": exp}
    secret = SECRET
    a, b = (jwt.encode({**body, "jti": j}, secret, algorithm="HS256") for j in ("one", "two"))
    plain, plain_other = (
        jwt.encode({**body, "iat": i}, secret, algorithm="HS256") for i in (exp - 3610, exp - 3620)
    )
    ids = [decode_token(t, HS).token_id for t in (a, b, plain, plain_other)]
    assert len(set(ids)) == 4
    assert ids[0] == "jti:one"
    assert decode_token(plain, HS).token_id == ids[2]
