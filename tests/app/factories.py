"""A small, realistic estate for dashboard tests and screenshots, built from the canonical
model, written with the store's own upsert, then run through ``metrics.compute.run`` so pages
read real computed metrics. Alerts are stored through the alerting package's own writers.

Faults are placed by a usage's running number, so the truth is known without reading the
store back: ``Truth`` says which usages miss a charge, which are charged twice, and so on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from alerting.data.history import save_transitions
from alerting.data.instances import save_states
from alerting.state import AlertState, State, Transition
from core.config import ChargeSla
from core.model import (
    AckCode,
    CdmEntry,
    ChannelStats,
    Charge,
    Crosswalk,
    Encounter,
    Facility,
    InterfaceMessage,
    InventoryTransaction,
    InventoryTxnType,
    Item,
    ItemClass,
    ItemUom,
    Location,
    MessageStatus,
    ReplenishmentDocument,
    ReplenishmentKind,
    UsageEvent,
)
from metrics.compute.run import compute
from rules.evaluate import fingerprint
from store.schema import api_calls, collector_runs
from store.schema_alerting import alert_outbox
from store.upsert import quarantine, upsert_records

FACILITIES = {"FAC01": "General Hospital", "FAC02": "St Mary's"}
# FAC02 is smaller and its faults fall on other usages: the two must not look alike.
VOLUME = {"FAC01": 0, "FAC02": -1}
FAULT_SHIFT = {"FAC01": 0, "FAC02": 5}
# Fake PHI for the quarantine: it must never show without the audited reveal.
FAKE_PHI = "PID|1||MRN0012345^^^FAC01^MR||DOE^JANE||19700101|F"
FAKE_PHI_2 = '{"resourceType":"Patient","name":[{"family":"ROE","given":["RICHARD"]}]}'

# item id: (description, class, unit cost, chargeable, serialised, CDM code or "")
ITEMS: dict[str, tuple[str, ItemClass, str, bool, bool, str]] = {
    "IMP-HIP-01": ("Hip stem, cementless", ItemClass.IMPLANT, "2400", True, True, "2780001001"),
    "IMP-STENT-02": ("Coronary stent, drug-eluting", ItemClass.IMPLANT, "1100", True, True,
                     "2780001002"),
    "CON-SUT-03": ("Suture, absorbable", ItemClass.CONSUMABLE, "3.50", True, False,
                   "2720001003"),
    "CON-CATH-04": ("Catheter, urinary", ItemClass.CONSUMABLE, "12", True, False, "2720001004"),
    "IMP-ANCHOR-05": ("Suture anchor", ItemClass.IMPLANT, "380", True, False, ""),
    "DRG-HEP-06": ("Heparin flush", ItemClass.DRUG, "2", False, False, ""),
}
# CDM code: (description, HCPCS, revenue code, price); CON-CATH's line lacks its HCPCS.
CDM = {
    "2780001001": ("Hip implant", "C1776", "278", "9800"),
    "2780001002": ("Coronary stent", "C1874", "278", "4200"),
    "2720001003": ("Suture", "A4649", "272", "18"),
    "2720001004": ("Urinary catheter", "", "272", "55"),
}
# Where each item is used, and the procedure done there.
SPOTS = {"IMP-HIP-01": ("OR1", "27130"), "IMP-STENT-02": ("CATH1", "92928"),
         "CON-SUT-03": ("OR1", "27130"), "CON-CATH-04": ("CATH1", "92928"),
         "IMP-ANCHOR-05": ("OR1", "29827"), "DRG-HEP-06": ("CATH1", "92928")}
ROTATION = ("IMP-HIP-01", "CON-SUT-03", "IMP-STENT-02", "CON-CATH-04", "CON-SUT-03",
            "IMP-ANCHOR-05", "IMP-STENT-02", "DRG-HEP-06")


@dataclass
class Truth:
    """What the seed put in, for tests to compare the pages against."""

    start: datetime
    end: datetime  # the hour after the newest usage: where the dashboard window ends
    usages: dict[str, int] = field(default_factory=dict)  # per facility
    missing_charge: set[str] = field(default_factory=set)
    late_charge: set[str] = field(default_factory=set)
    duplicate_usd: dict[str, float] = field(default_factory=dict)  # per facility
    duplicated: set[str] = field(default_factory=set)  # usage ids charged twice
    missing_issue: set[str] = field(default_factory=set)
    unknown_item: set[str] = field(default_factory=set)
    nacked: set[str] = field(default_factory=set)  # control ids answered AE
    queued: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)  # control ids billing ACKed HELD_WAIT later
    charges: dict[str, list[str]] = field(default_factory=dict)  # usage id -> charge ids
    messages: dict[str, str] = field(default_factory=dict)  # usage id -> first control id
    encounters: dict[str, str] = field(default_factory=dict)  # usage id -> encounter id
    alerts: dict[str, str] = field(default_factory=dict)  # fingerprint -> state
    quarantine_ids: int = 0


def master_data() -> list[Any]:
    """Facilities, locations, items, units, charge master, crosswalk."""
    out: list[Any] = []
    for fac, name in FACILITIES.items():
        out.append(Facility(facility_id=fac, name=name))
        out += [Location(location_id=f"{fac}-{room}", facility_id=fac, name=f"{room} {name}")
                for room in ("OR1", "CATH1")]
    for iid, (desc, cls, cost, chargeable, serial, cdm) in ITEMS.items():
        out.append(Item(item_id=iid, description=desc, unit_cost=Decimal(cost), item_class=cls,
                        chargeable=chargeable, serialised=serial))
        if cdm:
            out.append(Crosswalk(item_id=iid, cdm_code=cdm))
    out.append(ItemUom(item_id="CON-SUT-03", uom="BX", factor=Decimal(12)))
    for code, (desc, hcpcs, rev, price) in CDM.items():
        out.append(CdmEntry(cdm_code=code, description=desc, hcpcs=hcpcs, revenue_code=rev,
                            price=Decimal(price)))
    return out


def _price(item_id: str) -> Decimal:
    cdm = ITEMS[item_id][5]
    return Decimal(CDM[cdm][3]) if cdm else Decimal(0)


def activity(hours: int, per_hour: int, seed: int, truth: Truth) -> list[Any]:
    """Usage, messages, charges and issues for every facility, with faults by number."""
    rng = random.Random(seed)
    out: list[Any] = []
    for fac in FACILITIES:
        rate = max(1, per_hour + VOLUME[fac])
        last = hours * rate - 1  # the newest usage's message is still queued
        n = 0
        for h in range(hours):
            for k in range(rate):
                at = truth.start + timedelta(hours=h, minutes=k * 60 // rate + rng.randint(0, 9))
                out += _one_usage(rng, fac, n, at, truth, queued=n == last)
                n += 1
        truth.usages[fac] = n
    return out


def _one_usage(rng: random.Random, fac: str, n: int, at: datetime, truth: Truth, *,
               queued: bool) -> list[Any]:
    f = n + FAULT_SHIFT[fac]  # which faults this usage carries
    item = "GTIN-0000000000" if f % 29 == 9 else ROTATION[n % len(ROTATION)]
    room, proc = SPOTS.get(item, ("OR1", "27130"))
    loc, uid, enc = f"{fac}-{room}", f"U-{fac}-{n:06d}", f"ENC-{fac}-{n // 2:05d}"
    serial = f"SN{fac[-2:]}{n:05d}" if item in ("IMP-HIP-01", "IMP-STENT-02") else ""
    truth.encounters[uid] = enc
    out: list[Any] = [
        Encounter(encounter_id=enc, facility_id=fac, procedure_code=proc, started_at=at),
        UsageEvent(usage_id=uid, facility_id=fac, location_id=loc, encounter_id=enc,
                   item_ref=item, quantity=Decimal(1), serial=serial, used_at=at, source="ehr"),
    ]
    if item not in ITEMS:
        truth.unknown_item.add(uid)
        return out
    control = f"MSG-{fac}-{n:06d}"
    truth.messages[uid] = control
    nack = f % 11 == 2
    if queued:
        truth.queued.add(control)
    if nack:
        truth.nacked.add(control)
        out.append(_message(fac, control, enc, uid, at + timedelta(seconds=40),
                            MessageStatus.ERROR, AckCode.AE, "FT1-7 charge code not found"))
        control = f"MSG-{fac}-{n:06d}R"
    held = f % 37 == 6 and not queued  # billing was down: the ACK came HELD_WAIT later
    if held:
        truth.held.add(control)
    out.append(_message(fac, control, enc, uid, at + timedelta(minutes=2),
                        MessageStatus.QUEUED if queued else MessageStatus.SENT,
                        None if queued else AckCode.AA, "",
                        wait=HELD_WAIT if held else ACK_WAIT))
    _desc, cls, cost, chargeable, _serial, cdm = ITEMS[item]
    if chargeable and cdm:
        minutes = rng.randint(8, 50) if cls is ItemClass.IMPLANT else rng.randint(60, 300)
        if f % 19 == 5 and cls is ItemClass.IMPLANT:
            minutes = 60 * 5  # past the 2-hour implant SLA
            truth.late_charge.add(uid)
        if f % 17 == 3:
            truth.missing_charge.add(uid)
        else:
            copies = 2 if f % 23 == 7 else 1
            if copies == 2:
                truth.duplicated.add(uid)
                truth.duplicate_usd[fac] = truth.duplicate_usd.get(fac, 0.0) + float(_price(item))
            for c in range(copies):
                cid = f"CHG-{fac}-{n:06d}" + ("B" if c else "")
                truth.charges.setdefault(uid, []).append(cid)
                posted = at + timedelta(minutes=minutes + 7 * c)
                out.append(Charge(
                    charge_id=cid, facility_id=fac, encounter_id=enc, cdm_code=cdm,
                    quantity=Decimal(1), amount=_price(item), service_date=at.date(),
                    posted_at=posted, usage_id=uid, control_id=control, serial=serial,
                    last_updated=posted))
    if f % 13 == 4:
        truth.missing_issue.add(uid)
    else:
        posted = at + timedelta(minutes=rng.randint(10, 90))
        out.append(InventoryTransaction(
            document_id=f"INV-{fac}-{n:06d}", facility_id=fac, location_id=loc, item_id=item,
            txn_type=InventoryTxnType.ISSUE, quantity=Decimal(2 if f % 31 == 10 else 1),
            serial=serial, usage_id=uid, unit_cost=Decimal(cost), posted_at=posted,
            modified_at=posted))
    return out


ACK_WAIT, HELD_WAIT = timedelta(seconds=20), timedelta(minutes=40)


def _message(fac: str, control: str, enc: str, uid: str, at: datetime, status: MessageStatus,
             ack: AckCode | None, error: str, wait: timedelta = ACK_WAIT) -> InterfaceMessage:
    return InterfaceMessage(
        channel=f"{fac}_CHG_OUT", control_id=control, message_type="DFT^P03", facility_id=fac,
        encounter_id=enc, usage_ids=(uid,), received_at=at,
        sent_at=at + wait if status is not MessageStatus.QUEUED else None,
        status=status, ack_code=ack, error=error,
        resend_of=control[:-1] if control.endswith("R") else "")


def feeds(hours: int, truth: Truth) -> list[Any]:
    """ADT traffic, engine counter snapshots and replenishment documents."""
    out: list[Any] = []
    for fac in FACILITIES:
        for h in range(0, hours, 2):
            at = truth.start + timedelta(hours=h, minutes=5)
            out.append(InterfaceMessage(
                channel=f"{fac}_ADT_IN", control_id=f"ADT-{fac}-{h:05d}", message_type="ADT^A04",
                facility_id=fac, received_at=at, sent_at=at + timedelta(seconds=3),
                status=MessageStatus.FILTERED if h % 8 == 0 else MessageStatus.SENT,
                ack_code=AckCode.AA))
        for h in range(0, hours - 24, 6):
            created = truth.start + timedelta(hours=h, minutes=30)
            out.append(ReplenishmentDocument(
                document_id=f"REQ-{fac}-{h:04d}", doc_kind=ReplenishmentKind.REQUISITION,
                facility_id=fac, location_id=f"{fac}-OR1", item_id="IMP-HIP-01",
                quantity=Decimal(4), status="RECEIVED", created_at=created,
                ordered_at=created + timedelta(hours=2),
                received_at=created + timedelta(hours=18 + (6 if fac == "FAC02" else 0)),
                modified_at=created + timedelta(hours=26)))
        out.append(ChannelStats(channel=f"{fac}_CHG_OUT", facility_id=fac, observed_at=truth.end,
                                received=truth.usages[fac], filtered=0, queued=1,
                                sent=truth.usages[fac] - 2, errored=1,
                                oldest_queued_at=truth.end - timedelta(minutes=35)))
    return out


SOURCE_OF_KIND = {"usage_event": "ehr", "interface_message": "engine", "channel_stats": "engine",
                  "charge": "billing", "encounter": "billing"}  # everything else: the ERP
ENDPOINTS = {"engine": ("channels",), "billing": ("ChargeItem", "Encounter"),
             "ehr": ("SupplyDelivery",), "erp": ("InventoryTransactions", "PurchaseRequisitions")}
RUN_MINUTES = 10


def collector_activity(engine: Engine, start: datetime, end: datetime) -> None:
    """A collector run every 10 minutes per source up to ``end`` (the ERP failing for its
    last three runs), each with its API calls (some slow, some 429 or 5xx)."""
    slots = int((end - start) / timedelta(minutes=RUN_MINUTES))
    runs, calls = [], []
    for source, eps in ENDPOINTS.items():
        for slot in range(slots):
            at = start + timedelta(minutes=RUN_MINUTES * (slot + 1)) - timedelta(seconds=30)
            failing = source == "erp" and slot >= slots - 3
            run_id = f"{source}-{slot:05d}"
            runs.append({"run_id": run_id, "source": source, "started_at": at,
                         "finished_at": at + timedelta(seconds=4),
                         "status": "error" if failing else "ok", "records": 0 if failing else 12,
                         "error_class": "SourceUnavailable" if failing else "",
                         "error": "HTTP 503 from /erp/odata" if failing else "",
                         "newest_record_at": None if failing else at - timedelta(minutes=2)})
            for i, ep in enumerate(eps):
                slow = (slot + i) % 25 == 0
                code = 503 if failing else (429 if (slot + i) % 41 == 0 else 200)
                calls.append({"run_id": run_id, "source": source, "endpoint": ep,
                              "started_at": at + timedelta(seconds=i),
                              "duration_ms": 2400.0 if slow else 120.0 + 13 * ((slot * 7) % 11),
                              "status_code": code, "rows": 0 if code != 200 else 12,
                              "error_class": "" if code == 200 else "SourceUnavailable",
                              "attempt": 1})
    with engine.begin() as conn:
        conn.execute(insert(collector_runs), runs)
        conn.execute(insert(api_calls), calls)


def alerts(engine: Engine, truth: Truth) -> None:
    """Alert instances in every state, with their history, and one dead e-mail."""
    end = truth.end
    specs = [
        ("charge-capture", {"facility": "FAC01", "item_class": "IMPLANT"}, State.FIRING,
         "fail", 81.5, 14000.0, "revenue-cycle"),
        ("nack-rate", {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}, State.FIRING, "warn",
         9.1, None, "integration"),
        ("collector-down", {"source": "erp"}, State.FIRING, "fail", 65.0, None, "integration"),
        ("duplicate-charges-usd", {"facility": "FAC02"}, State.PENDING, "warn", 4200.0, 4200.0,
         "revenue-cycle"),
        ("api-response-time", {"source": "billing", "endpoint": "ChargeItem"}, State.RESOLVED,
         "", 640.0, None, "integration"),
    ]
    states, transitions, owners = [], [], {}
    for i, (rule, scope, state, level, value, amount, owner) in enumerate(specs):
        fp = fingerprint(rule, scope)
        since = end - timedelta(hours=3 + i)
        firing = since if state is State.FIRING else None
        states.append(AlertState(fp, rule, scope, state, since, end, level=level, value=value,
                                 amount=amount, pending_since=since - timedelta(minutes=15),
                                 firing_since=firing))
        owners[rule] = owner
        transitions.append(Transition(fp, rule, State.OK, State.PENDING,
                                      since - timedelta(minutes=15), level, value, "breach"))
        if state is not State.PENDING:
            transitions.append(Transition(fp, rule, State.PENDING, State.FIRING, since - (
                timedelta(hours=1) if state is State.RESOLVED else timedelta(0)), level, value,
                "pending period over", "firing"))
        if state is State.RESOLVED:
            transitions.append(Transition(fp, rule, State.FIRING, State.RESOLVED, since, "",
                                          value, "value back under threshold", "resolved"))
        truth.alerts[fp] = state.value
    with engine.begin() as conn:
        save_states(conn, states, {}, owners)
        save_transitions(conn, transitions)
        conn.execute(insert(alert_outbox).values(
            dedupe_key="dead-1", message_id="<dead-1@chargeline>", owner="integration",
            recipient="integration-oncall@example.org", subject="[Chargeline] 3 alerts firing",
            body_text="...", body_html="...", status="dead", attempts=6,
            next_attempt_at=end, last_error="SMTP 550 mailbox unavailable",
            created_at=end - timedelta(hours=2)))


def current_minute() -> datetime:
    """The start of the current UTC minute."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def seed_estate(engine: Engine, *, hours: int = 48, per_hour: int = 3, seed: int = 7,
                end: datetime | None = None) -> Truth:
    """Write ``hours`` of activity ending at ``end`` (now by default, so freshness reads
    naturally), compute its metrics and alerts; return what went in."""
    end = end or current_minute()
    truth = Truth(start=end - timedelta(hours=hours), end=end)
    records = master_data()
    records += activity(hours, per_hour, seed, truth)
    records += feeds(hours, truth)
    by_source: dict[str, list[Any]] = {}
    for record in records:
        by_source.setdefault(SOURCE_OF_KIND.get(record.kind, "erp"), []).append(record)
    with engine.begin() as conn:
        for source, part in by_source.items():
            upsert_records(conn, part, source=source, now=truth.end)
        quarantine(conn, source="engine", position="FAC01_CHG_OUT-20261118.hl7@120",
                   reason="PID segment malformed", raw_payload=FAKE_PHI, record_kind="hl7",
                   now=truth.end)
        quarantine(conn, source="ehr", position="SupplyDelivery page 4 entry 17",
                   reason="truncated JSON", raw_payload=FAKE_PHI_2, record_kind="fhir",
                   now=truth.end)
    truth.quarantine_ids = 2
    collector_activity(engine, truth.start, truth.end)
    compute(engine, ChargeSla(), now=truth.end)
    alerts(engine, truth)
    return truth
