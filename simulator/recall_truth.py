"""The truth's ``recall`` section: one lot to recall and the exact usages of it, and the
devices used after their expiry (simulator.udi_scans), as served at ``as_of``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.estate_record import Estate
from simulator.records import Usage
from simulator.udi_scans import udi_scan


def recall_truth(estate: Estate, as_of: int) -> dict[str, Any]:
    """``lot``: the lot seen on the most served scans among lots scanned at least once as
    a UDI (ties: the smallest); ``usage_ids``: every served usage of it, sorted;
    ``udi_scans`` and ``expired_usage_ids``: the scans sent as UDIs and those of expired
    devices."""
    served: list[Usage] = list(estate.collections["ehr/SupplyDelivery"].visible_records(as_of))
    by_lot: dict[str, list[str]] = defaultdict(list)
    udi_lots: set[str] = set()
    udi_scans = 0
    expired: list[str] = []
    for u in served:
        if u.lot:
            by_lot[u.lot].append(u.usage_id)
        scan = udi_scan(u)
        if scan is not None:
            udi_scans += 1
            udi_lots.add(u.lot)
            if scan.expired:
                expired.append(u.usage_id)
    lot = min(udi_lots, key=lambda name: (-len(by_lot[name]), name), default="")
    return {"lot": lot, "usage_ids": sorted(by_lot.get(lot, [])), "udi_scans": udi_scans,
            "expired_usage_ids": sorted(expired)}
