"""Users, API tokens and shares: creation, lookup and revocation (operators drive these from the CLI)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import bindparam
from sqlmodel import Session, select

from orchestrator.service.errors import BadRequest, Conflict, NotFound, Unauthorized
from orchestrator.store.models import ApiToken, Run, Share, User, utcnow

TOKEN_PREFIX = "cr_"
PREFIX_LEN = 10
USER_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
# Bearer token as issued: prefix + 43 url-safe base64 chars (32 random bytes).
TOKEN_RE = re.compile(r"^cr_[A-Za-z0-9_-]{43}$")


def hash_token(token: str) -> str:
    """sha256 hex of a token; only this is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, name: str) -> User:
    """Create a user; names are lower-case identifiers."""
    if not USER_NAME_RE.match(name):
        raise BadRequest(f"invalid user name {name!r}: use lower-case letters, digits, '_', '.', '-' (max 64)")
    if session.exec(select(User).where(User.name == name)).first():
        raise Conflict(f"user {name!r} already exists", code="user_exists")
    user = User(name=name)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User:
    """The user called ``name``."""
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user called {name!r}", code="user_not_found")
    return user


def set_user_disabled(session: Session, name: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user: their tokens stop working."""
    user = get_user(session, name)
    user.disabled = disabled
    session.add(user)
    return user


def create_token(session: Session, user_name: str) -> str:
    """Issue a new random token (32 bytes of entropy) for a user; the plain token is returned once."""
    user = get_user(session, user_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:PREFIX_LEN]))
    session.flush()
    return token


def revoke_token(session: Session, prefix_or_token: str) -> int:
    """Revoke tokens matching a full token or the prefix shown by ``tokens list``; returns how many."""
    if TOKEN_RE.match(prefix_or_token):
        rows = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(prefix_or_token))).all()
    else:
        if len(prefix_or_token) < 6:
            raise BadRequest("give the whole token or at least its first 6 characters")
        key = prefix_or_token[:PREFIX_LEN]
        match = ApiToken.prefix == key if len(key) == PREFIX_LEN else ApiToken.prefix.startswith(key)  # type: ignore[attr-defined]
        rows = session.exec(select(ApiToken).where(match)).all()
    live = [r for r in rows if r.revoked_at is None]
    if not rows:
        raise NotFound("no token matches that", code="token_not_found")
    for row in live:
        row.revoked_at = utcnow()
        session.add(row)
    return len(live)


def list_tokens(session: Session) -> list[tuple[ApiToken, User]]:
    """Every token with its user (hashes and prefixes only)."""
    return list(session.exec(select(ApiToken, User).where(ApiToken.user_id == User.id).order_by(ApiToken.id)).all())


_TOKEN_QUERY = select(ApiToken, User).join(User, User.id == ApiToken.user_id) \
    .where(ApiToken.token_hash == bindparam("digest"))  # built once: this runs on every request


def authenticate(session: Session, authorization: str | None) -> User:
    """The user behind an ``Authorization: Bearer <token>`` header, or Unauthorized saying why."""
    if not authorization:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'", code="missing_token")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header must be 'Bearer <token>'", code="bad_auth_scheme")
    if not TOKEN_RE.match(token):
        raise Unauthorized("invalid token", code="invalid_token")
    digest = hash_token(token)
    found = session.exec(_TOKEN_QUERY, params={"digest": digest}).first()
    # The lookup is by hash (an attacker cannot steer it); compare_digest keeps the final check constant-time.
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        raise Unauthorized("invalid token", code="invalid_token")
    row, user = found
    if row.revoked_at is not None:
        raise Unauthorized("this token has been revoked", code="revoked_token")
    if user.disabled:
        raise Unauthorized("this user is disabled", code="user_disabled")
    return user


def share_run(session: Session, run_id: str, user_name: str) -> Share:
    """Let ``user_name`` see a run (read-only)."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    user = get_user(session, user_name)
    if user.id == run.owner_id:
        raise BadRequest(f"user {user_name!r} owns run {run_id}")
    existing = session.exec(select(Share).where(Share.run_id == run_id, Share.user_id == user.id)).first()
    if existing:
        return existing
    share = Share(run_id=run_id, user_id=user.id)
    session.add(share)
    session.flush()
    return share
