"""A signed sign-in cookie, so a browser reload or a deep link keeps the user signed in.

The token is ``session id|expiry|hmac``, signed with ``core.keys.session_key`` (HKDF
from the deployment secret, a label of its own), so nobody can forge one without it. The
session id names a server-side session (``app.data.signin``), which sign-out and an admin can
end; neither the e-mail nor the roles are in the token: roles are re-read from the store
on every run, so revoking a role takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

COOKIE_NAME = "chargeline_session"
LIFETIME_SECONDS = 12 * 3600


def issue(key: bytes, email: str, now: float | None = None) -> str:
    """A token naming ``email`` (the session id) valid for ``LIFETIME_SECONDS``."""
    expiry = int((now if now is not None else time.time()) + LIFETIME_SECONDS)
    body = f"{email}|{expiry}"
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{body}|{mac}".encode()).decode().rstrip("=")


def verify(key: bytes, token: str, now: float | None = None) -> str | None:
    """The session id inside a valid, unexpired token, else ``None``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        email, expiry, mac = raw.rsplit("|", 2)
        expected = hmac.new(key, f"{email}|{expiry}".encode(), hashlib.sha256)
        if not hmac.compare_digest(mac, expected.hexdigest()[:32]):
            return None
        if int(expiry) < (now if now is not None else time.time()):
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    return email
