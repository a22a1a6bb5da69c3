"""Patient identity as a keyed token (data minimisation at the edge).

Names, MRNs and birth dates never leave a collector: the MRN (with its assigning
authority) becomes an HMAC-SHA256 token under a secret only the deployment holds, so the
same patient stitches across systems while nobody can reverse the token without the key.
"""

from __future__ import annotations

import hashlib
import hmac

TOKEN_PREFIX = "pt_"  # noqa: S105 - a label, not a secret
TOKEN_HEX_CHARS = 24  # 96 bits: collision-free for any hospital network, short in a UI.


def patient_token(secret: str, mrn: str, assigning_authority: str = "") -> str:
    """Return the keyed token for one patient identifier; empty MRN gives ``""``."""
    mrn = mrn.strip()
    if not mrn:
        return ""
    message = f"{assigning_authority.strip().upper()}|{mrn}".encode()
    # hmac.digest: the same HMAC in one C call (hmac.new builds a Python object per token)
    digest = hmac.digest(secret.encode(), message, hashlib.sha256).hex()
    return TOKEN_PREFIX + digest[:TOKEN_HEX_CHARS]
