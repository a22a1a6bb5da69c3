"""Local accounts, roles and the audit log: the store side of sign-in (no Streamlit here).

Passwords are argon2id hashes (argon2-cffi). An OIDC user has no password; the e-mail
the identity provider vouches for is looked up here for its roles, so authorisation
always comes from this table, never from the provider's claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, insert, select, update

from core.errors import ConfigError
from store.schema_app import ROLES, app_audit_log, app_user_roles, app_users

_HASHER = PasswordHasher()


@dataclass(frozen=True)
class User:
    """A signed-in person: e-mail and the roles the store grants."""

    email: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def normalise_email(email: str) -> str:
    """Lower-case, trimmed e-mail; refuse what is obviously not an address."""
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or " " in email:
        raise ConfigError(f"{email!r} is not an e-mail address; e.g. steward@hospital.org")
    return email


def check_role(role: str) -> str:
    """Return ``role`` if known, else raise naming the valid ones."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 4:
        raise ConfigError("password too short: use at least 4 characters")
    return _HASHER.hash(password)


def add_user(
    conn: Connection, email: str, roles: list[str], password: str | None = None
) -> User:
    """Create or update a user with these roles (replacing earlier ones)."""
    email = normalise_email(email)
    roles = [check_role(r) for r in roles]
    if not roles:
        raise ConfigError("give at least one role, e.g. --role steward")
    values: dict[str, Any] = {"password_hash": hash_password(password) if password else ""}
    exists = conn.execute(select(app_users.c.email).where(app_users.c.email == email)).first()
    if exists:
        if password:
            conn.execute(update(app_users).where(app_users.c.email == email).values(**values))
    else:
        conn.execute(
            insert(app_users).values(
                email=email, active=True, created_at=datetime.now(UTC), **values
            )
        )
    conn.execute(delete(app_user_roles).where(app_user_roles.c.email == email))
    conn.execute(insert(app_user_roles), [{"email": email, "role": r} for r in sorted(set(roles))])
    return User(email, frozenset(roles))


def roles_of(conn: Connection, email: str) -> frozenset[str]:
    """The roles of an active user, or an empty set."""
    rows = conn.execute(
        select(app_user_roles.c.role)
        .join(app_users, app_users.c.email == app_user_roles.c.email)
        .where(app_users.c.email == email.strip().lower(), app_users.c.active.is_(True))
    ).scalars()
    return frozenset(rows)


def authenticate(conn: Connection, email: str, password: str) -> User | None:
    """The user if the password matches an active local account, else ``None``."""
    email = email.strip().lower()
    row = conn.execute(
        select(app_users.c.password_hash).where(
            app_users.c.email == email, app_users.c.active.is_(True)
        )
    ).first()
    if row is None or not row.password_hash:
        return None
    try:
        _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    conn.execute(
        update(app_users).where(app_users.c.email == email).values(last_login_at=datetime.now(UTC))
    )
    return User(email, roles_of(conn, email))


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every user with its roles, for the admin page (no hashes)."""
    roles: dict[str, list[str]] = {}
    for email, role in conn.execute(select(app_user_roles.c.email, app_user_roles.c.role)):
        roles.setdefault(email, []).append(role)
    rows = conn.execute(
        select(app_users.c.email, app_users.c.active, app_users.c.created_at,
               app_users.c.last_login_at, (app_users.c.password_hash != "").label("local"))
        .order_by(app_users.c.email)
    ).mappings()
    return [{**row, "roles": ", ".join(sorted(roles.get(row["email"], [])))} for row in rows]


def audit(
    conn: Connection, actor: str, action: str, target: str = "", reason: str = "", detail: str = ""
) -> None:
    """Append one line to the audit log."""
    conn.execute(
        insert(app_audit_log).values(
            at=datetime.now(UTC), actor=actor, action=action, target=target[:300],
            reason=reason, detail=detail,
        )
    )


def audit_entries(conn: Connection, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """The newest audit lines first."""
    rows = conn.execute(
        select(app_audit_log).order_by(app_audit_log.c.audit_id.desc()).limit(limit).offset(offset)
    ).mappings()
    return [dict(r) for r in rows]


def count_users(conn: Connection) -> int:
    """How many users exist."""
    return int(conn.execute(select(func.count()).select_from(app_users)).scalar_one())


def count_audit(conn: Connection) -> int:
    """How many lines the audit log holds."""
    return int(conn.execute(select(func.count()).select_from(app_audit_log)).scalar_one())
