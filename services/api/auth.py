"""Bearer JWTs: decoding (HS256 secret or RS256 public key), minting, and the generated dev secret.

Claims: `sub` (the user), `org` (the tenant), `roles` (admin | lead | member | viewer), `exp`.
Every read, write and subscription runs as the token's user inside the token's org.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from okr.application import ROLES
from okr.domain import RequestContext
from okr.domain.base import check_display_text
from okr.domain.context import ORG_ID_PATTERN
from okr.domain.errors import ValidationError
from okr.settings import Settings

SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret
MAX_TOKEN_CHARS = 8_192


class AuthenticationError(Exception):
    """No token, or a token that cannot be trusted (bad signature, expired, wrong claims)."""

    code = "UNAUTHENTICATED"


@dataclass(frozen=True)
class Principal:
    """Who the token says is calling."""

    user: str
    org: str
    roles: frozenset[str]
    expires_at: float | None = None  # the token's `exp` (seconds since the epoch)
    token_id: str = ""  # the token's `jti`, else a digest of the token itself (per-token limits)

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def request_context(self) -> RequestContext:
        return RequestContext(org_id=self.org, actor=self.user, roles=self.roles)


@dataclass(frozen=True)
class JwtKeys:
    """The verification key (and, for HS256, the signing key) with its algorithm."""

    algorithm: str
    verify_key: str
    signing_key: str | None
    issuer: str | None = None
    audience: str | None = None
    generated_secret: bool = False


def _secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def load_or_create_secret(settings: Settings) -> tuple[str, bool]:
    """The HS256 secret from the data directory, written (mode 0600) on first use.

    Returns (secret, created)."""
    path = _secret_path(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            msg = f"{path} holds a secret shorter than 32 characters; delete it to generate a new one"
            raise RuntimeError(msg) from None
        return secret, False
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret, True


def resolve_keys(settings: Settings) -> JwtKeys:
    """The keys the settings call for; HS256 without a configured secret uses the generated one."""
    if settings.jwt_algorithm == "RS256":
        if not settings.jwt_public_key:
            msg = "OKR_JWT_ALGORITHM=RS256 needs OKR_JWT_PUBLIC_KEY (a PEM public key)"
            raise RuntimeError(msg)
        return JwtKeys("RS256", settings.jwt_public_key, None, settings.jwt_issuer, settings.jwt_audience)
    created = False
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        secret = settings.jwt_secret.get_secret_value()
    elif settings.environment == "production":
        # replicas must share one key, and a secret nobody configured is nobody's responsibility
        msg = "production needs OKR_JWT_SECRET (32+ characters) or OKR_JWT_PUBLIC_KEY with RS256"
        raise RuntimeError(msg)
    else:
        secret, created = load_or_create_secret(settings)
    return JwtKeys("HS256", secret, secret, settings.jwt_issuer, settings.jwt_audience, created)


def decode_token(token: str, keys: JwtKeys) -> Principal:
    """Verifies signature, expiry and claims; raises AuthenticationError with a safe message."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("missing or oversized bearer token")
    options = {"require": ["exp", "sub", "org"]}
    try:
        claims = jwt.decode(
            token,
            keys.verify_key,
            algorithms=[keys.algorithm],  # one algorithm: never "none", never a confused key type
            issuer=keys.issuer,
            audience=keys.audience,
            options=options,  # type: ignore[arg-type]
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"invalid token: {type(exc).__name__}") from None
    user, org, roles = claims.get("sub"), claims.get("org"), claims.get("roles", [])
    if not isinstance(user, str) or not 1 <= len(user) <= 200 or _has_control(user):
        # the user is every event's actor: control characters (NUL) could not be stored
        raise AuthenticationError(
            "token claim 'sub' must be a 1-200 character string without control characters"
        )
    try:  # the actor of every event and audit line: what is displayed is what is stored
        check_display_text(user, "sub")
    except ValidationError as exc:
        raise AuthenticationError(f"token claim {exc}") from None
    if not isinstance(org, str) or not ORG_ID_PATTERN.fullmatch(org):  # `$` admits a final newline
        raise AuthenticationError("token claim 'org' is not a valid org id")
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise AuthenticationError("token claim 'roles' must be a non-empty list")
    known = frozenset(r for r in roles if r in ROLES)
    if not known:
        raise AuthenticationError(f"token has no known role (one of {', '.join(ROLES)})")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        # PyJWT accepts "exp": "1999999999"; long-lived subscriptions need a number to expire
        raise AuthenticationError("token claim 'exp' must be a number")
    jti = claims.get("jti")
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    token_id = f"jti:{jti}" if isinstance(jti, str) and jti else digest
    return Principal(user=user, org=org, roles=known, expires_at=float(exp), token_id=token_id)


def _has_control(value: str) -> bool:
    """Control characters (NUL, newlines) or lone surrogates."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise AuthenticationError("missing Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization must be 'Bearer <token>'")
    return token.strip()


def mint(
    keys: JwtKeys, *, org: str, user: str, roles: list[str], ttl: timedelta = timedelta(hours=24)
) -> str:
    """Signs a token (HS256 only: RS256 tokens come from your identity provider)."""
    if keys.signing_key is None:
        msg = "cannot mint RS256 tokens here: sign them with your identity provider's private key"
        raise RuntimeError(msg)
    if not ORG_ID_PATTERN.fullmatch(org):
        msg = f"org id must match {ORG_ID_PATTERN.pattern}"
        raise ValueError(msg)
    if not user or len(user) > 200 or _has_control(user):
        msg = "user must be a 1-200 character string without control characters"
        raise ValueError(msg)
    try:
        check_display_text(user, "user")
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        msg = f"roles must be among {', '.join(ROLES)} (got {', '.join(unknown) or 'none'})"
        raise ValueError(msg)
    now = datetime.now(tz=UTC)
    claims: dict[str, object] = {
        "sub": user,
        "org": org,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl,
    }
    if keys.issuer:
        claims["iss"] = keys.issuer
    if keys.audience:
        claims["aud"] = keys.audience
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm)
