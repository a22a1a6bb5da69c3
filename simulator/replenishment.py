"""Stock per item and location: issues draw it down, a fall to the reorder point raises a
purchase requisition (OPEN -> ORDERED -> RECEIVED) whose receipt restocks the shelf."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable

from simulator.records import InventoryTxn, Item, ReorderPoint, RequisitionVersion
from simulator.timefmt import HOUR, MINUTE


def replenish(
    rng: random.Random,
    facility_id: str,
    issues: list[InventoryTxn],
    items: dict[str, Item],
    points: dict[tuple[str, str], ReorderPoint],
    end_ms: int,
    next_doc_id: Callable[[str], str],
) -> tuple[list[RequisitionVersion], list[InventoryTxn]]:
    """Walk the issues (and returns, and count adjustments) in posting order; return
    requisition versions and RECEIPT txns."""
    stock: dict[tuple[str, str], int] = {}
    open_req: set[tuple[str, str]] = set()
    arrivals: list[tuple[int, int, tuple[str, str], int]] = []  # (time, seq, key, qty)
    versions: list[RequisitionVersion] = []
    receipts: list[InventoryTxn] = []
    n = 0
    for txn in sorted(issues, key=lambda t: t.posted_ms):
        while arrivals and arrivals[0][0] <= txn.posted_ms:
            _, _, key, qty = heapq.heappop(arrivals)
            stock[key] += qty
            open_req.discard(key)
        key = (txn.item_id, txn.location_id)
        rp = points.get(key)
        if rp is None:
            continue
        item = items[txn.item_id]
        taken = txn.quantity * item.units[txn.uom]
        if txn.txn_type == "RETURN":  # a surplus back on the shelf
            stock[key] = stock.setdefault(key, rp.par_level) + taken
            continue
        if txn.txn_type == "ADJUST":  # a count's shortfall (negative) leaves the shelf too
            taken = -taken
        level = stock.setdefault(key, rp.par_level) - taken
        stock[key] = level
        if level > rp.reorder_point or key in open_req:
            continue
        created = txn.posted_ms + rng.randint(1, 10) * MINUTE
        if created >= end_ms:
            continue
        n += 1
        rid = f"REQ-{facility_id}-{n:06d}"
        qty = rp.par_level - level
        ordered = created + rng.randint(1, 6) * HOUR + rng.randint(0, 59_999)
        received = ordered + rng.randint(18, 72) * HOUR + rng.randint(0, 59_999)
        common = (rid, facility_id, txn.location_id, txn.item_id, qty)
        versions += [
            RequisitionVersion(*common, "OPEN", created, None, None, created, ordered),
            RequisitionVersion(*common, "ORDERED", created, ordered, None, ordered, received),
            RequisitionVersion(*common, "RECEIVED", created, ordered, received, received),
        ]
        receipt = InventoryTxn(next_doc_id("INV"), facility_id, txn.location_id, txn.item_id,
                               "RECEIPT", qty, "EA", "", "", "", item.unit_cost, received,
                               received + rng.randint(0, 5000))
        receipt.visible_ms = receipt.modified_ms
        receipts.append(receipt)
        open_req.add(key)
        heapq.heappush(arrivals, (received, n, key, qty))
    return versions, receipts
