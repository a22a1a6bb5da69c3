"""Patient identity as a keyed token (data minimisation at the edge).

Names, MRNs and birth dates never leave a collector: the MRN (with its assigning
authority) becomes an HMAC-SHA256 token under a secret only the deployment holds, so the
same patient stitches across systems while nobody can reverse the token without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

TOKEN_PREFIX = "pt_"  # noqa: S105 - a label, not a secret
TOKEN_HEX_CHARS = 24  # 96 bits: collision-free for any hospital network, short in a UI.


def patient_token(secret: str, mrn: str, assigning_authority: str = "") -> str:
    """Return the keyed token for one patient identifier; empty MRN gives ``""``."""
    return _token(secret, mrn, assigning_authority)


# An encounter's charges and scans name its patient again and again (the bench's FHIR
# estate: 80,683 records, 3,611 patients), and an HMAC costs ~1.7 us: the tokens of the
# patients seen last are kept (in the collector process, which reads their MRNs anyway).
@lru_cache(maxsize=8192)
def _token(secret: str, mrn: str, assigning_authority: str) -> str:
    mrn = mrn.strip()
    if not mrn:
        return ""
    message = f"{assigning_authority.strip().upper()}|{mrn}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX_CHARS]
