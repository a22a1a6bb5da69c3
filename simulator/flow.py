"""Downstream of each scan: the DFT^P03 message and its ACK, the billing charge, the ERP
inventory issue, with the usage's fault or trap shaping what happens (or does not)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simulator.faults import SLA_MINUTES
from simulator.outages import Outage, outage_at
from simulator.records import Charge, Encounter, InventoryTxn, Message, Usage
from simulator.timefmt import DAY, HOUR, MINUTE


@dataclass(slots=True)
class Trail:
    """Everything one usage caused, for the truth file."""

    usage: Usage
    messages: list[Message] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    issue: InventoryTxn | None = None
    returned: InventoryTxn | None = None  # the surplus of an over-issue, taken back
    adjusted: InventoryTxn | None = None  # a cycle count's ADJUST of a never-issued scan


@dataclass(slots=True)
class FacilityFlow:
    """Runs the downstream of one facility's usages (sorted by time, ids assigned)."""

    rng: random.Random
    facility_id: str
    crosswalk: dict[str, str]
    prices: dict[str, float]
    end_ms: int  # the estate end (charges of the after-window trap post past it)
    framed_share: float = 0.2
    outages: list[Outage] = field(default_factory=list)  # billing down: messages queue
    messages: list[Message] = field(default_factory=list)
    filtered: list[int] = field(default_factory=list)  # engine filter times (not chargeable)
    charges: list[Charge] = field(default_factory=list)
    issues: list[InventoryTxn] = field(default_factory=list)
    trails: list[Trail] = field(default_factory=list)
    _seq: dict[str, int] = field(default_factory=lambda: {"MSG": 0, "CHG": 0, "INV": 0})

    def next_id(self, prefix: str) -> str:
        """The next id of a kind, numbered in creation order: ``MSG-FAC01-0000001``."""
        self._seq[prefix] += 1
        return f"{prefix}-{self.facility_id}-{self._seq[prefix]:07d}"

    def _message(self, u: Usage, received: int) -> Message:
        rng = self.rng
        item = u.item
        factor = item.units.get(u.uom) if item else None
        cdm = self.crosswalk.get(item.item_id, "") if item else ""
        amount = round(u.quantity * factor * self.prices[cdm], 2) if cdm and factor else None
        msg = Message(self.next_id("MSG"), f"{self.facility_id}_CHG_OUT", self.facility_id,
                      "DFT^P03", received, u.encounter, [u], [cdm], [amount],
                      ack_ms=received + rng.randint(150, 3000),
                      framed=rng.random() < self.framed_share)
        outage = outage_at(self.outages, received)
        if outage is not None:  # queued until billing is back (the draws above still made)
            msg.ack_ms = outage.ack_after(received)
        self.messages.append(msg)
        return msg

    def _charge(self, u: Usage, msg: Message | None, posted: int) -> Charge:
        item = u.item
        assert item is not None
        base = u.quantity * item.units[u.uom]
        cdm = self.crosswalk[item.item_id]
        charge = Charge(self.next_id("CHG"), self.facility_id, u.encounter, u.location_id, cdm,
                        base, round(base * self.prices[cdm], 2), u.used_ms, posted, u.usage_id,
                        msg.control_id if msg else "", u.lot, u.serial, visible_ms=posted)
        self.charges.append(charge)
        return charge

    def run(self, u: Usage) -> Trail:
        """All downstream records of one usage."""
        rng = self.rng
        trail = Trail(u)
        self.trails.append(trail)
        u.recorded_ms = u.used_ms + rng.randint(20_000, 240_000)
        fault = u.fault
        item = u.item
        final: Message | None = None
        if item is None or item.chargeable:
            # the engine forwards chargeable (and unrecognised) scans to billing as DFT^P03
            msg = self._message(u, u.used_ms + rng.randint(5_000, 90_000))
            trail.messages.append(msg)
            final = msg
            if fault == "nack":
                msg.ack_code = rng.choice(("AE", "AE", "AR"))
                final = self._message(u, (msg.ack_ms or 0) + rng.randint(60, 900) * 1000)
                self._seq["MSG"] -= 1  # a re-send reuses the original number with -R1
                final.control_id = f"{msg.control_id}-R1"
                final.resend_of = msg.control_id
                final.ack_code = "AA"
                trail.messages.append(final)
        else:
            self.filtered.append(u.used_ms + rng.randint(5_000, 90_000))
        convertible = item is not None and u.uom in item.units
        chargeable = (item is not None and item.chargeable and item.item_id in self.crosswalk
                      and convertible)
        if chargeable and final is not None and fault != "missing_charge":
            self._charges(trail, u, final)
        if convertible and not fault.startswith("missing_inventory_issue"):
            trail.issue = self._issue(u)
            if fault == "trap_issue_return":
                trail.returned = self._return_surplus(trail.issue, rng.randint(1, 3))
        elif fault == "missing_inventory_issue:cycle_count":
            trail.adjusted = self._cycle_count(u)
        if fault == "out_of_order":
            target: Charge | InventoryTxn
            target = trail.charges[0] if rng.random() < 0.6 or trail.issue is None else trail.issue
            target.visible_ms = self._last_updated(target) + rng.randint(120, 600) * 1000
        return trail

    def _charges(self, trail: Trail, u: Usage, final: Message) -> None:
        rng = self.rng
        fault = u.fault
        assert u.item is not None
        cls = u.item.item_class
        delay = rng.randint(60, 1800 if cls == "IMPLANT" else 3600) * 1000
        posted = final.ack_ms + delay if final.ack_ms else final.received_ms + delay
        if fault == "late_charge":
            posted = u.used_ms + (SLA_MINUTES[cls] + rng.randint(10, 600)) * MINUTE
            posted += rng.randint(0, 59_999)
        elif fault == "trap_charge_after_window":
            posted = self.end_ms + rng.randint(10, 180) * MINUTE + rng.randint(0, 59_999)
        first = self._charge(u, final, posted)
        trail.charges.append(first)
        if fault == "duplicate_charge:same_usage":
            again = self._message(u, final.received_ms + rng.randint(30, 600) * 1000)
            trail.messages.append(again)
            trail.charges.append(self._charge(u, again, again.ack_ms + delay))
        elif fault == "duplicate_charge:same_message":
            trail.charges.append(self._charge(u, final, posted + rng.randint(1, 120) * MINUTE))
        elif fault == "trap_reversal_recharge":
            credit = self._charge(u, None, posted + rng.randint(30, 240) * MINUTE)
            credit.quantity, credit.amount = -first.quantity, -first.amount
            credit.part_of = first.charge_id
            recharge = self._charge(u, None, credit.posted_ms + rng.randint(5, 60) * MINUTE)
            trail.charges += [credit, recharge]
        elif fault == "trap_voided_recharge":
            first.status = "entered-in-error"  # FHIR ChargeItem.status: never billed
            trail.charges.append(self._charge(u, final, posted + rng.randint(2, 15) * MINUTE))

    def _issue(self, u: Usage) -> InventoryTxn:
        rng = self.rng
        assert u.item is not None
        posted = u.used_ms + rng.randint(5, 120) * MINUTE + rng.randint(0, 59_999)
        txn = InventoryTxn(self.next_id("INV"), self.facility_id, u.location_id,
                           u.item.item_id, "ISSUE", u.quantity, u.uom, u.lot, u.serial,
                           u.usage_id, u.item.unit_cost, posted, posted + rng.randint(0, 5000))
        txn.visible_ms = txn.modified_ms
        self.issues.append(txn)
        return txn

    def _return_surplus(self, issue: InventoryTxn, surplus: int) -> InventoryTxn:
        """Make ``issue`` take ``surplus`` units too many and post their RETURN later,
        naming the same usage: the net issue is what was used."""
        rng = self.rng
        issue.quantity += surplus
        posted = issue.posted_ms + rng.randint(10, 90) * MINUTE + rng.randint(0, 59_999)
        txn = InventoryTxn(self.next_id("INV"), self.facility_id, issue.location_id,
                           issue.item_id, "RETURN", surplus, issue.uom, issue.lot, issue.serial,
                           issue.usage_ref, issue.unit_cost, posted, posted + rng.randint(0, 5000))
        txn.visible_ms = txn.modified_ms
        self.issues.append(txn)
        return txn

    def _cycle_count(self, u: Usage) -> InventoryTxn:
        """The shelf count that finds the scan's units gone: an ADJUST (negative, in the
        scan's unit) of the item at its location, naming no usage, within the hours the
        issue was due."""
        rng = self.rng
        assert u.item is not None
        posted = u.used_ms + rng.randint(15, 200) * MINUTE + rng.randint(0, 59_999)
        txn = InventoryTxn(self.next_id("INV"), self.facility_id, u.location_id,
                           u.item.item_id, "ADJUST", -u.quantity, u.uom, "", "", "",
                           u.item.unit_cost, posted, posted + rng.randint(0, 5000))
        txn.visible_ms = txn.modified_ms
        self.issues.append(txn)
        return txn

    @staticmethod
    def _last_updated(record: Charge | InventoryTxn) -> int:
        return record.posted_ms if isinstance(record, Charge) else record.modified_ms


def adt_messages(rng: random.Random, encounters: list[Encounter], facility_id: str,
                 start_ms: int, end_ms: int, framed_share: float = 0.2) -> list[Message]:
    """ADT^A04 at registration and ADT^A08 at discharge, each ACKed by the engine."""
    out: list[Message] = []
    for enc in sorted(encounters, key=lambda e: e.start_ms):
        for event, t in (("ADT^A04", enc.start_ms + rng.randint(5, 120) * 1000),
                         ("ADT^A08", enc.end_ms + rng.randint(1, 30) * MINUTE)):
            if start_ms <= t < end_ms:
                out.append(Message("", f"{facility_id}_ADT_IN", facility_id, event, t, enc,
                                   ack_ms=t + rng.randint(50, 800),
                                   framed=rng.random() < framed_share))
    out.sort(key=lambda m: m.received_ms)
    for n, msg in enumerate(out, start=1):
        msg.control_id = f"ADT-{facility_id}-{n:07d}"
    return out


CLAIM_DELAY = (2 * HOUR, DAY)
