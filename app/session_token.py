"""A signed sign-in cookie, so a browser reload or a deep link keeps the user signed in.

The token is ``email|expiry|hmac``; the key is derived from the deployment secret, so
nobody can forge one without it. Roles are not in the token: they are re-read from the
store on every run, so revoking a role takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

COOKIE_NAME = "chargeline_session"
LIFETIME_SECONDS = 12 * 3600


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"chargeline-dashboard-session|" + secret.encode()).digest()


def issue(secret: str, email: str, now: float | None = None) -> str:
    """A token for ``email`` valid for ``LIFETIME_SECONDS``."""
    expiry = int((now if now is not None else time.time()) + LIFETIME_SECONDS)
    body = f"{email}|{expiry}"
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{body}|{mac}".encode()).decode().rstrip("=")


def verify(secret: str, token: str, now: float | None = None) -> str | None:
    """The e-mail inside a valid, unexpired token, else ``None``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        email, expiry, mac = raw.rsplit("|", 2)
        expected = hmac.new(_key(secret), f"{email}|{expiry}".encode(), hashlib.sha256)
        if not hmac.compare_digest(mac, expected.hexdigest()[:32]):
            return None
        if int(expiry) < (now if now is not None else time.time()):
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    return email
