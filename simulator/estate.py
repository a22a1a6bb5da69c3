"""Estate assembly: ``build_estate(EstateConfig) -> Estate``, deterministic from the seed.

Order of work: reference data (facilities, locations, item master, CDM, crosswalk,
contracts, reorder points), then per facility its clinical activity, the fault draw, the
downstream of every scan (HL7, charge, inventory issue), ADT, malformed HL7, claims, their
835 remittances and replenishment; finally the served collections, the HL7 log layout and the truth.
Each stage draws from its own random stream (``seed:stage:facility``) so one stage's
changes do not reshuffle the others. The ``Estate`` record itself is in
simulator.estate_record (re-exported here by import, for callers that build and hold one).
"""

from __future__ import annotations

import gc
import random
import sys

from tqdm import tqdm

from simulator.activity import ActivityBuilder, make_pickers
from simulator.catalog import (
    Catalog,
    build_charge_master,
    build_contracts,
    build_facilities,
    build_items,
    build_locations,
    build_reorder_points,
    pick_no_crosswalk,
)
from simulator.claims import build_claims
from simulator.config import EstateConfig
from simulator.estate_record import Estate, FacilityData
from simulator.faults import assign_faults
from simulator.flow import FacilityFlow, adt_messages
from simulator.hl7log import build_layout
from simulator.hl7render import make_malformed
from simulator.outages import draw_outages
from simulator.pricing import book_issue_costs, contracts_by_item, drift_charges
from simulator.records import Facility, Malformed, Message
from simulator.remittance import build_remittances
from simulator.replenishment import replenish
from simulator.served import build_collections
from simulator.timefmt import DAY, MINUTE, to_ms
from simulator.truth import build_truth

MALFORMED_REASONS = ("truncated", "no_msh", "bad_encoding", "garbage")


def _rng(config: EstateConfig, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (config.seed, *parts)))


def build_estate(config: EstateConfig, progress: bool | None = None) -> Estate:
    """Generate the estate described by ``config`` (same config, same bytes)."""
    # Hundreds of thousands of long-lived objects: cycle collections during the build
    # would rescan them over and over for nothing (the records hold no cycles to free).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(config, progress)
    finally:
        if enabled:
            gc.enable()


def _build(config: EstateConfig, progress: bool | None) -> Estate:
    end = to_ms(config.end)
    start = end - config.days * DAY
    horizon = end + config.live_horizon_days * DAY
    rates = config.faults
    rng = _rng(config, "catalog")
    facilities = build_facilities(rng, config.facilities, start)
    locations = {f.facility_id: build_locations(rng, f) for f in facilities}
    items = build_items(rng, start)
    no_xw = pick_no_crosswalk(rng, items, rates.no_crosswalk)
    cdm, crosswalk, stripped, intended = build_charge_master(rng, items, no_xw,
                                                             rates.cdm_without_hcpcs)
    all_locations = [loc for f in facilities for loc in locations[f.facility_id]]
    catalog = Catalog(facilities, all_locations, items, cdm, crosswalk,
                      build_contracts(rng, items, start),
                      build_reorder_points(rng, items, all_locations))
    xw = {x.item_id: x.cdm_code for x in crosswalk}
    prices = {c.cdm_code: c.price for c in cdm}
    no_hcpcs_items = {item_id for item_id, code in xw.items() if code in stripped}
    pickers = make_pickers(items)
    show = progress if progress is not None else config.facilities * config.days > 30
    data = []
    for fac in tqdm(facilities, desc="simulating facilities", unit="facility",
                    file=sys.stderr, disable=not show):
        data.append(_build_facility(config, fac, locations[fac.facility_id], pickers, xw,
                                    prices, no_xw, no_hcpcs_items, catalog, start, end, horizon))
    estate = Estate(config, start, end, horizon, catalog, data, no_xw, stripped, intended)
    estate.collections = build_collections(estate)
    estate.hl7 = build_layout(estate)
    estate.truth = build_truth(estate)
    return estate


def _build_facility(config: EstateConfig, fac: Facility, locations: list, pickers: dict,
                    xw: dict[str, str], prices: dict[str, float], no_xw: set[str],
                    no_hcpcs_items: set[str], catalog: Catalog, start: int, end: int,
                    horizon: int) -> FacilityData:
    fid = fac.facility_id
    builder = ActivityBuilder(_rng(config, "activity", fid), fac, locations, pickers,
                              config.volume_scale)
    for day in range(start - start % DAY, horizon, DAY):
        builder.build_day(day, (day // DAY + 3) % 7 >= 5)  # epoch day 0 was a Thursday
    usages = [u for u in builder.usages if start <= u.used_ms < horizon]
    usages.sort(key=lambda u: u.used_ms)
    extras = assign_faults(_rng(config, "faults", fid), usages, config.faults, xw, no_xw,
                           no_hcpcs_items, end, horizon)
    usages += [extra for _, extra in extras]
    usages.sort(key=lambda u: (u.used_ms, u.role))
    for n, u in enumerate(usages, start=1):
        u.usage_id = f"U-{fid}-{n:07d}"
    encounters = sorted((e for e in builder.encounters if e.start_ms < horizon),
                        key=lambda e: e.start_ms)
    for n, enc in enumerate(encounters, start=1):
        enc.encounter_id = f"ENC-{fid}-{n:06d}"
    # Up to the truth's as-of time: the window end, or the live horizon (live mode), so
    # a live estate has outages while it runs too.
    outages = draw_outages(_rng(config, "outages", fid), f"{fid}_CHG_OUT", start, horizon,
                           config.faults.channel_outage)
    flow = FacilityFlow(_rng(config, "flow", fid), fid, xw, prices, end, outages=outages)
    for u in usages:
        flow.run(u)
    flow.messages.sort(key=lambda m: (m.received_ms, m.control_id))
    items = {i.item_id: i for i in catalog.items}
    # prices as booked, before claims and remittances are built from the amounts
    drift_charges(_rng(config, "cdm_drift", fid), flow.charges, prices,
                  config.faults.cdm_price_drift)
    book_issue_costs(_rng(config, "contract_cost", fid), flow.trails, items,
                     contracts_by_item(catalog.contracts), config.faults.cost_above_contract)
    adt = adt_messages(_rng(config, "adt", fid), encounters, fid, start, horizon)
    malformed = _malformed(_rng(config, "malformed", fid), fid, flow.messages + adt,
                           config.faults.malformed_hl7, horizon)
    claims, responses = build_claims(_rng(config, "claims", fid), fid, encounters,
                                      flow.charges, hold_rng=_rng(config, "dnfb", fid),
                                      hold_rate=config.faults.dnfb_hold)
    remittances = build_remittances(_rng(config, "remit", fid), claims, responses,
                                    {c.cdm_code: c for c in catalog.cdm}, config.faults,
                                    short_rng=_rng(config, "underpayment", fid))
    points = {(r.item_id, r.location_id): r for r in catalog.reorder_points
              if r.location_id.startswith(fid + "-")}
    requisitions, receipts = replenish(_rng(config, "replenish", fid), fid, flow.issues, items,
                                       points, horizon, flow.next_id)
    return FacilityData(fac, encounters, usages, flow.trails, extras, flow.messages, adt,
                        malformed, sorted(flow.filtered), flow.charges,
                        flow.issues + receipts, requisitions, claims, responses, outages,
                        remittances)


def _malformed(rng: random.Random, fid: str, messages: list[Message], share: float,
               horizon: int) -> list[tuple[Malformed, Message]]:
    """Broken messages placed right after some good ones (their ACK included)."""
    out: list[tuple[Malformed, Message]] = []
    if share <= 0:
        return out
    for msg in sorted(messages, key=lambda m: (m.received_ms, m.control_id)):
        if msg.received_ms + MINUTE < horizon and rng.random() < share:
            reason = rng.choice(MALFORMED_REASONS)
            bad = make_malformed(rng, msg, f"MSG-{fid}-X{len(out) + 1:06d}", reason)
            out.append((bad, msg))
    return out
