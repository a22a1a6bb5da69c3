"""Quarantined payloads encrypted at rest (Fernet, MultiFernet for key rotation).

A payload a collector could not read may carry a patient's name, MRN, SSN and birth date,
so the store keeps it only as ciphertext, in the existing text column:
``fernet:<plaintext bytes>:<Fernet token>`` (the size lets the dashboard show how big a
payload is without a key). The first key of ``quarantine_keys`` encrypts, every key
decrypts: to rotate, put a new key first and keep the old ones while rows sealed under
them remain. Rows written before encryption (no prefix) read back as they are. With no
key configured, one is derived from ``phi_secret`` with HKDF so the demo works, and a log
line says so.

The payload's dedup hash (``quarantined_records.payload_hash``) is an HMAC under a key
derived from ``phi_secret``: a bare SHA-256 of a short payload could be confirmed by
guessing its content. It does not depend on the Fernet keys, so a rotation keeps
re-read payloads deduplicated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.config import Settings
from core.errors import ChargelineError
from core.keys import deployment_secret

log = logging.getLogger("chargeline.sealing")

PREFIX = "fernet:"
# HKDF "info" labels: one secret, independent keys for independent jobs
_FERNET_INFO = b"chargeline quarantine fernet key v1"
_DIGEST_INFO = b"chargeline quarantine payload digest v1"
GENERATE_KEY = ("python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'")


class SealError(ChargelineError):
    """A sealed payload that none of the configured keys opens."""


def derive_key(secret: str, info: bytes) -> bytes:
    """32 bytes derived from ``secret`` for one purpose (``info``), HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info
                ).derive(secret.encode())


@dataclass(frozen=True)
class PayloadSealer:
    """Seals and opens quarantined payloads; hashes them for deduplication."""

    fernet: MultiFernet
    digest_key: bytes

    def seal(self, raw: str | bytes) -> str:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        return f"{PREFIX}{len(data)}:{self.fernet.encrypt(data).decode('ascii')}"

    def open(self, stored: str) -> bytes:
        """The original bytes of a stored payload (a clear row from before: its text)."""
        if not is_sealed(stored):
            return stored.encode("utf-8")
        token = stored[len(PREFIX):].partition(":")[2]
        try:
            return self.fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SealError(
                "this quarantined payload was encrypted with a key that is not in "
                "CHARGELINE_QUARANTINE_KEYS (or it is damaged) — after a rotation, keep "
                "the old keys after the new one") from None

    def digest(self, raw: str | bytes) -> str:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        return hmac.new(self.digest_key, data, hashlib.sha256).hexdigest()


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def sealed_size(stored: str) -> int:
    """The plaintext size of a stored payload, in bytes, without opening it."""
    if not is_sealed(stored):
        return len(stored.encode("utf-8"))
    size = stored[len(PREFIX):].partition(":")[0]
    return int(size) if size.isdigit() else 0


@lru_cache(maxsize=8)
def make_sealer(keys: tuple[str, ...], phi_secret: str) -> PayloadSealer:
    """A sealer for these keys (the first encrypts); none: one derived from ``phi_secret``.
    Cached, so the derivation's log line is written once per process."""
    if not keys:
        derived = base64.urlsafe_b64encode(derive_key(phi_secret, _FERNET_INFO)).decode()
        keys = (derived,)
        log.warning("quarantined payloads are encrypted with a key derived from phi_secret "
                    "(no CHARGELINE_QUARANTINE_KEYS set); set your own, e.g. %s",
                    GENERATE_KEY)
    return PayloadSealer(MultiFernet([Fernet(k) for k in keys]),
                         derive_key(phi_secret, _DIGEST_INFO))


def sealer_for(settings: Settings) -> PayloadSealer:
    """The sealer of a deployment's settings."""
    return make_sealer(tuple(k.get_secret_value() for k in settings.quarantine_keys),
                       deployment_secret(settings))
