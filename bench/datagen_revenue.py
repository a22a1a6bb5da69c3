"""The money side of the benchmark store: claims, claim lines and 835 remittances.

For ``bench.datagen``: every encounter with a charge is billed once, 1-3 days after its
discharge, one claim line per first charge (REF*6R line control = the charge id, as the
demo estate's 837s carry it); each claim is remitted 3-14 days later by one of four payers:
8 % denied whole (CLP02 4, CO-16 on every line, remark N290), the rest paid at a
payer's share of charges with the difference as CO-45. A claim (remittance) due after
``bill_until_us`` is not written: the newest encounters wait in DNFB, the newest claims
wait for their payer. Rows per usage event: about 0.25 claims, 0.9 claim lines, 0.25
remittances, 0.9 remittance lines and 0.9 adjustments.
"""

from __future__ import annotations

import numpy as np

from bench.datagen_master import LINEAGE, Tables, _day, _hashes, _ids, _rows, _ts

DAY_US = 86_400_000_000
DENIED_SHARE = 0.08
PAYERS = (("99101", "NORTHSTAR MEDICARE", 0.35), ("99202", "BLUE MERIDIAN", 0.55),
          ("99303", "CASCADE COMMERCIAL", 0.60), ("99404", "STATE MEDICAID", 0.30))


def revenue_tables(rng: np.random.Generator, *, seed: int, now: str, enc_no: np.ndarray,
                   charge_ids: np.ndarray, charge_enc: np.ndarray, amount: np.ndarray,
                   units: np.ndarray, service_us: np.ndarray, hcpcs: np.ndarray,
                   revenue_code: np.ndarray, enc_ids: np.ndarray, enc_fac: np.ndarray,
                   tokens: np.ndarray, enc_end_us: np.ndarray, bill_until_us: int) -> Tables:
    """Claims, claim lines and remittances (pure). ``charge_*`` are the first charges in
    encounter order (``charge_enc`` indexes ``enc_ids``, sorted ascending); ``enc_no``
    numbers the encounters across slices (a claim and its remittance take its number)."""
    if not len(charge_ids):
        return {}
    enc, first = np.unique(charge_enc, return_index=True)
    line_no = np.arange(len(charge_ids)) - first[np.searchsorted(enc, charge_enc)] + 1
    n_claim = len(enc)
    created = enc_end_us[enc] + rng.integers(1, 4, n_claim) * DAY_US \
        + rng.integers(0, 8 * 3_600_000_000, n_claim)
    total = np.round(np.bincount(np.searchsorted(enc, charge_enc), weights=amount), 2)
    billed = created <= bill_until_us
    claim_ids = np.strings.add("CLM-", enc_ids[enc])
    number = enc_no[enc]
    start = int(number[0])
    c_idx = np.flatnonzero(billed)
    claims = {
        "claim_id": claim_ids[c_idx], "facility_id": enc_fac[enc][c_idx],
        "encounter_id": enc_ids[enc][c_idx], "patient_token": tokens[enc][c_idx],
        "total": total[c_idx], "status": "active", "created_at": _ts(created[c_idx]),
        "outcome": "", "paid_amount": None, "last_updated": _ts(created[c_idx]),
        "source": "billing", "record_hash": _hashes(seed, 30, start, len(c_idx)),
        "ingested_at": now,
    }
    of_line = np.searchsorted(enc, charge_enc)  # the claim each line belongs to
    l_idx = np.flatnonzero(billed[of_line])
    procedure = np.where(hcpcs == "", "", hcpcs)
    lines = {
        "claim_id": claim_ids[of_line][l_idx], "line_no": line_no[l_idx],
        "line_control": charge_ids[l_idx], "revenue_code": revenue_code[l_idx],
        "procedure_code": procedure[l_idx], "modifiers": "", "units": units[l_idx],
        "charge_amount": amount[l_idx], "service_on": _day(service_us[l_idx]),
        "charge_id": charge_ids[l_idx], "last_updated": _ts(created[of_line][l_idx]),
        "source": "billing-837", "record_hash": _hashes(seed, 31, start, len(l_idx)),
        "ingested_at": now,
    }
    tables: Tables = {"claims": (tuple(claims), _rows(claims, len(c_idx))),
                      "claim_lines": (tuple(lines), _rows(lines, len(l_idx)))}
    paid_at = (created // DAY_US + rng.integers(3, 15, n_claim)) * DAY_US  # BPR16: a date
    payer = rng.integers(0, len(PAYERS), n_claim)
    denied = rng.random(n_claim) < DENIED_SHARE
    remitted = billed & (paid_at <= bill_until_us)
    share = np.array([p[2] for p in PAYERS])[payer]
    r_idx = np.flatnonzero(remitted)
    remit_ids = _ids("835-", number, 10)
    claim_paid = np.where(denied, 0.0, np.round(total * share, 2))
    remits = {
        "remittance_id": remit_ids[r_idx], "claim_id": claim_ids[r_idx],
        "facility_id": enc_fac[enc][r_idx],
        "payer_id": np.array([p[0] for p in PAYERS])[payer][r_idx],
        "payer_name": np.array([p[1] for p in PAYERS])[payer][r_idx],
        "status_code": np.where(denied, "4", "1")[r_idx], "charge_amount": total[r_idx],
        "paid_amount": claim_paid[r_idx], "patient_responsibility": 0.0,
        "payer_claim_id": _ids("PCN", number[r_idx], 12), "paid_at": _ts(paid_at[r_idx]),
        "received_at": _ts(paid_at[r_idx] + DAY_US), "last_updated": _ts(paid_at[r_idx]),
        "source": "billing-835", "record_hash": _hashes(seed, 32, start, len(r_idx)),
        "ingested_at": now,
    }
    rl = np.flatnonzero(remitted[of_line])
    line_denied = denied[of_line][rl]
    line_paid = np.where(line_denied, 0.0, np.round(amount[rl] * share[of_line][rl], 2))
    rem_lines = {
        "remittance_id": remit_ids[of_line][rl], "line_no": line_no[rl],
        "claim_id": claim_ids[of_line][rl], "line_control": charge_ids[rl],
        "procedure_code": np.where(procedure[rl] == "", np.strings.add("NU:", revenue_code[rl]),
                                   np.strings.add("HC:", procedure[rl])),
        "revenue_code": revenue_code[rl], "charge_amount": amount[rl], "paid_amount": line_paid,
        "units": units[rl], "service_on": _day(service_us[rl]),
        "remark_codes": np.where(line_denied, "N290", ""),
        "last_updated": _ts(paid_at[of_line][rl]), "source": "billing-835",
        "record_hash": _hashes(seed, 33, start, len(rl)), "ingested_at": now,
    }
    adjustments = {
        "remittance_id": rem_lines["remittance_id"], "line_no": rem_lines["line_no"],
        "seq": 1, "claim_id": rem_lines["claim_id"], "group_code": "CO",
        "reason_code": np.where(line_denied, "16", "45"),
        "amount": np.round(amount[rl] - line_paid, 2), "quantity": None,
        "last_updated": rem_lines["last_updated"], "source": "billing-835",
        "record_hash": _hashes(seed, 34, start, len(rl)), "ingested_at": now,
    }
    tables["remittances"] = (tuple(remits), _rows(remits, len(r_idx)))
    tables["remittance_lines"] = (tuple(rem_lines), _rows(rem_lines, len(rl)))
    tables["remittance_adjustments"] = (tuple(adjustments), _rows(adjustments, len(rl)))
    assert tuple(claims)[-3:] == LINEAGE  # the writers expect lineage last, as collected
    return tables
