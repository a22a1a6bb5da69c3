"""Reference data: facilities, locations, the ERP item master with units, the charge
master (CDM), the item->CDM crosswalk, contract prices and reorder points."""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.records import (
    CdmEntry,
    ContractPrice,
    Crosswalk,
    Facility,
    Item,
    Location,
    ReorderPoint,
)
from simulator.timefmt import DAY, iso_date
from simulator.udi_scans import gtin_check_digit

_HOSPITALS = [
    ("St. Mary Regional Medical Center", "Springfield"),
    ("Riverside General Hospital", "Riverside"),
    ("Mercy Heart & Vascular Hospital", "Lakewood"),
    ("Northgate University Hospital", "Northgate"),
    ("Valley Community Hospital", "Fairview"),
    ("Harbor Point Medical Center", "Bayport"),
    ("Cedar Ridge Memorial Hospital", "Cedar Ridge"),
    ("Summit Orthopedic & Surgical Hospital", "Summit"),
    ("Lakeshore Children's and Women's Hospital", "Lakeshore"),
    ("Pine Hills Regional Hospital", "Pine Hills"),
]

# (hcpcs, description stem, cost range, serialised, areas, max quantity, supplier pool)
_IMPLANTS = [
    ("C1713", "SCREW CANCELLOUS", (120, 650), False, ("OR",), 6, ("Stryker", "DePuy Synthes")),
    ("C1713", "ANCHOR SUTURE", (300, 900), False, ("OR",), 3, ("Arthrex", "Smith & Nephew")),
    ("C1776", "KNEE FEMORAL COMPONENT", (2500, 6000), True, ("OR",), 1, ("Zimmer Biomet",)),
    ("C1776", "HIP ACETABULAR SHELL", (1800, 4500), True, ("OR",), 1, ("Stryker",)),
    ("C1778", "LEAD NEUROSTIMULATOR", (1500, 4000), True, ("OR",), 1, ("Medtronic",)),
    ("C1785", "PACEMAKER DUAL CHAMBER RR", (4000, 8000), True, ("CATH",), 1, ("Medtronic",)),
    ("C1874", "STENT DRUG ELUTING W/DEL SYS", (900, 2200), True, ("CATH",), 2,
     ("Boston Scientific", "Abbott")),
    ("C1876", "STENT BARE METAL W/DEL SYS", (500, 1200), True, ("CATH",), 2, ("Abbott",)),
    ("C1889", "IMPLANTABLE DEVICE NOS", (200, 3000), True, ("OR", "CATH"), 1, ("Medtronic",)),
    ("C1781", "MESH HERNIA", (300, 2500), False, ("OR",), 1, ("Ethicon", "BD")),
    ("C1762", "TISSUE GRAFT DERMAL", (800, 3500), False, ("OR",), 1, ("AlloSource",)),
    ("C1721", "ICD DUAL CHAMBER", (15000, 25000), True, ("CATH",), 1, ("Boston Scientific",)),
    ("C1898", "LEAD PACEMAKER", (600, 1500), True, ("CATH",), 2, ("Medtronic", "Abbott")),
    ("C1789", "PROSTHESIS BREAST", (1000, 2000), True, ("OR",), 2, ("Allergan",)),
]
_IMPLANT_SIZES = ["SZ 1", "SZ 2", "SZ 3", "SZ 4", "SZ 5", "3.0X18", "3.5X24", "4.0X28", "6.5X40",
                  "7.0X50", "LEFT", "RIGHT"]

# (description, hcpcs, cost range, areas, chargeable, box factor or 0)
_CONSUMABLES = [
    ("SUTURE VICRYL", "A4649", (4, 14), ("OR", "ED"), True, 36),
    ("SUTURE PROLENE", "A4649", (5, 16), ("OR", "CATH"), True, 36),
    ("GLOVE SURG STERILE", "", (1, 3), ("OR", "CATH", "ED", "ICU", "MEDSURG"), False, 50),
    ("DRAPE LAPAROTOMY", "A4649", (18, 45), ("OR",), True, 10),
    ("SPONGE LAP 18X18", "", (1, 4), ("OR",), False, 20),
    ("CATHETER FOLEY", "A4338", (6, 22), ("OR", "ICU", "MEDSURG", "ED"), True, 10),
    ("IV START KIT", "A4216", (3, 9), ("ED", "ICU", "MEDSURG"), True, 50),
    ("SYRINGE LUER LOCK", "A4206", (0.2, 1), ("OR", "CATH", "ED", "ICU", "MEDSURG"), False, 100),
    ("NEEDLE HYPODERMIC", "A4215", (0.1, 0.6), ("ED", "ICU", "MEDSURG"), False, 100),
    ("ELECTRODE ECG", "A4556", (0.3, 1.5), ("CATH", "ED", "ICU"), False, 50),
    ("TUBING SUCTION", "A4649", (3, 8), ("OR", "ICU"), True, 20),
    ("STAPLER SKIN 35W", "A4649", (12, 30), ("OR", "ED"), True, 12),
    ("GAUZE STERILE 4X4", "A6402", (0.2, 0.8), ("OR", "ED", "ICU", "MEDSURG"), False, 100),
    ("DRESSING TRANSPARENT", "A6257", (1, 5), ("OR", "ED", "ICU", "MEDSURG"), True, 50),
    ("TROCAR BLADELESS", "A4649", (45, 140), ("OR",), True, 6),
    ("GUIDEWIRE .035", "C1769", (40, 120), ("CATH",), True, 5),
    ("SHEATH INTRODUCER", "C1894", (35, 110), ("CATH",), True, 5),
    ("CATHETER GUIDING", "C1887", (60, 180), ("CATH",), True, 5),
    ("BALLOON PTCA", "C1725", (150, 600), ("CATH",), True, 0),
    ("ELECTROSURGICAL PENCIL", "A4649", (6, 18), ("OR",), True, 25),
    ("CENTRAL LINE KIT", "A4649", (40, 95), ("ICU", "ED"), True, 5),
    ("ARTERIAL LINE KIT", "A4649", (25, 60), ("ICU",), True, 10),
    ("ENDOTRACHEAL TUBE", "A7520", (3, 12), ("OR", "ICU", "ED"), True, 10),
    ("SPLINT PLASTER", "A4580", (4, 15), ("ED",), True, 12),
    ("WOUND VAC DRESSING", "A6550", (30, 90), ("MEDSURG", "ICU"), True, 5),
]
_CONSUMABLE_SIZES = ["2-0", "3-0", "4-0", "SZ 6.5", "SZ 7", "SZ 7.5", "SZ 8", "12FR", "14FR",
                     "16FR", "18FR", "5ML", "10ML", "20ML", "18G", "22G", "6FR", "7FR", "SMALL",
                     "MEDIUM", "LARGE", "12MM", "5MM", "150CM", "260CM"]

# (description, hcpcs, revenue code, cost range, areas)
_DRUGS = [
    ("DEXAMETHASONE 4MG INJ", "J1100", "0636", (0.5, 3)),
    ("ONDANSETRON 4MG INJ", "J2405", "0636", (0.3, 2)),
    ("CEFAZOLIN 1G INJ", "J0690", "0636", (1, 5)),
    ("MIDAZOLAM 2MG INJ", "J2250", "0636", (0.5, 3)),
    ("FENTANYL 100MCG INJ", "J3010", "0636", (0.5, 3)),
    ("HYDROMORPHONE 2MG INJ", "J1170", "0636", (1, 4)),
    ("PROPOFOL 200MG INJ", "J2704", "0636", (2, 9)),
    ("KETOROLAC 30MG INJ", "J1885", "0636", (0.5, 3)),
    ("HEPARIN 5000U INJ", "J1644", "0636", (0.5, 4)),
    ("MORPHINE 4MG INJ", "J2270", "0636", (0.5, 3)),
    ("SODIUM CHLORIDE 0.9% 1000ML", "J7050", "0250", (1, 4)),
    ("LACTATED RINGERS 1000ML", "J7120", "0250", (1, 4)),
    ("ACETAMINOPHEN 1G IV", "J0131", "0636", (5, 20)),
    ("LIDOCAINE 1% 20ML", "J2001", "0250", (1, 4)),
    ("POTASSIUM CHLORIDE 20MEQ", "J3480", "0250", (1, 5)),
    ("PANTOPRAZOLE 40MG IV", "J3490", "0250", (2, 8)),
]
_DRUG_AREAS = ("OR", "CATH", "ED", "ICU", "MEDSURG")
_CONSUMABLE_SUPPLIERS = ("Medline", "Cardinal Health", "Owens & Minor", "BD", "Ethicon")
_DRUG_SUPPLIERS = ("McKesson", "Pfizer Hospira", "Fresenius Kabi", "Baxter")
_MARKUP = {"IMPLANT": (2.2, 3.2), "CONSUMABLE": (3.0, 6.0), "DRUG": (3.0, 5.0)}


@dataclass(slots=True)
class Catalog:
    facilities: list[Facility]
    locations: list[Location]
    items: list[Item]
    cdm: list[CdmEntry]
    crosswalk: list[Crosswalk]
    contracts: list[ContractPrice]
    reorder_points: list[ReorderPoint]


def _cents(value: float) -> float:
    return round(value + 1e-9, 2)


def build_facilities(rng: random.Random, count: int, start_ms: int) -> list[Facility]:
    """``count`` hospitals with stable ids FAC01.. and realistic names."""
    out = []
    for i in range(count):
        name, city = _HOSPITALS[i % len(_HOSPITALS)]
        if i >= len(_HOSPITALS):
            name = f"{name} {i // len(_HOSPITALS) + 1}"
        out.append(Facility(f"FAC{i + 1:02d}", name, city, rng.uniform(0.0, 1.0),
                            start_ms - rng.randint(30, 400) * DAY))
    return out


def build_locations(rng: random.Random, fac: Facility) -> list[Location]:
    """OR suites, cath labs, ED, ICU and med-surg units of one facility."""
    fid = fac.facility_id
    specs: list[tuple[str, str, str]] = []
    for n in range(1, 5 + int(fac.size * 4)):
        specs.append((f"OR{n}", f"Operating Room {n}", "OR"))
    for n in range(1, 2 + int(fac.size * 1.5)):
        specs.append((f"CATH{n}", f"Cardiac Cath Lab {n}", "CATH"))
    specs += [("ED", "Emergency Department", "ED"), ("ICU", "Intensive Care Unit", "ICU"),
              ("4W", "Med-Surg 4 West", "MEDSURG"), ("5E", "Med-Surg 5 East", "MEDSURG")]
    mod = fac.modified_ms + rng.randint(1, 20) * DAY
    return [Location(f"{fid}-{code}", fid, name, kind, f"CC-{fid}-{code}", mod)
            for code, name, kind in specs]


def build_items(rng: random.Random, start_ms: int) -> list[Item]:
    """About 400 items: implants (C-codes, 0278), consumables (0272), drugs (0250/0636)."""
    items: list[Item] = []
    next_id = iter(range(100001, 999999))

    def add(desc, cls, cost, charge, serial, hcpcs, rev, supplier, units, areas, weight, max_qty):
        iid = f"ITM-{next(next_id)}"
        drawn = f"0{rng.randint(10**12, 10**13 - 1)}"
        gtin = drawn[:13] + gtin_check_digit(drawn[:13])  # valid: it is printed in UDIs
        items.append(Item(iid, desc, cls, _cents(cost), charge, serial, gtin, hcpcs, rev,
                          supplier, units, areas, weight, max_qty,
                          start_ms - rng.randint(10, 900) * DAY))

    for hcpcs, stem, (lo, hi), serial, areas, max_qty, suppliers in _IMPLANTS:
        for size in rng.sample(_IMPLANT_SIZES, 7):
            add(f"{stem} {size}", "IMPLANT", rng.uniform(lo, hi), True, serial, hcpcs, "0278",
                rng.choice(suppliers), {"EA": 1}, areas, rng.uniform(0.2, 1.0), max_qty)
    for desc, hcpcs, (lo, hi), areas, chargeable, box in _CONSUMABLES:
        for size in rng.sample(_CONSUMABLE_SIZES, 11):
            units = {"EA": 1}
            if box:
                units["BX"] = box
                if rng.random() < 0.5:
                    units["CS"] = box * rng.choice((4, 6, 10))
            add(f"{desc} {size}", "CONSUMABLE", rng.uniform(lo, hi), chargeable, False,
                hcpcs if chargeable else "", "0272", rng.choice(_CONSUMABLE_SUPPLIERS), units,
                areas, rng.paretovariate(1.2), 3 if chargeable else 4)
    for desc, hcpcs, rev, (lo, hi) in _DRUGS:
        for variant in ("VIAL", "SYRINGE", "PREMIX", "AMPULE"):
            add(f"{desc} {variant}", "DRUG", rng.uniform(lo, hi), True, False, hcpcs, rev,
                rng.choice(_DRUG_SUPPLIERS), {"EA": 1, "BX": rng.choice((10, 25))},
                _DRUG_AREAS, rng.paretovariate(1.2), 2)
    return items


def build_charge_master(
    rng: random.Random, items: list[Item], no_crosswalk: set[str], no_hcpcs_share: float
) -> tuple[list[CdmEntry], list[Crosswalk], set[str], dict[str, str]]:
    """One CDM line per chargeable item (some consumable lines shared by sibling sizes),
    the crosswalk for all but ``no_crosswalk``, the CDM codes left without HCPCS, and
    the CDM code every chargeable item should map to (crosswalked or not)."""
    cdm: list[CdmEntry] = []
    intended: dict[str, str] = {}
    crosswalk: list[Crosswalk] = []
    seq = {"0278": 1000, "0272": 5000, "0250": 2000, "0636": 6000}
    shared: dict[str, CdmEntry] = {}
    for item in items:
        if not item.chargeable:
            continue
        stem = item.description.rsplit(" ", 1)[0]
        share = item.item_class == "CONSUMABLE" and rng.random() < 0.3
        # an item left without crosswalk keeps a CDM line of its own name, so a steward
        # (and the metrics' suggested fix) can find the line it should map to
        entry = shared.get(stem) if share and item.item_id not in no_crosswalk else None
        if entry is None:
            seq[item.revenue_code] += rng.randint(1, 9)
            code = f"{item.revenue_code[1:]}{seq[item.revenue_code]:07d}"
            lo, hi = _MARKUP[item.item_class]
            entry = CdmEntry(code, item.description, item.hcpcs, item.revenue_code,
                             _cents(item.unit_cost * rng.uniform(lo, hi)),
                             item.modified_ms + rng.randint(0, 5) * DAY)
            cdm.append(entry)
            shared[stem] = entry
        intended[item.item_id] = entry.cdm_code
        if item.item_id not in no_crosswalk:
            crosswalk.append(Crosswalk(item.item_id, entry.cdm_code, entry.modified_ms))
    used = {c.cdm_code for c in crosswalk}
    candidates = [c for c in cdm if c.cdm_code in used and c.revenue_code in ("0278", "0636")]
    n = _share_count(no_hcpcs_share, len(cdm))
    stripped = {c.cdm_code for c in rng.sample(candidates, min(n, len(candidates)))}
    for entry in cdm:
        if entry.cdm_code in stripped:
            entry.hcpcs = ""
    return cdm, crosswalk, stripped, intended


def _share_count(share: float, total: int) -> int:
    return 0 if share <= 0 else max(1, round(share * total))


def pick_no_crosswalk(rng: random.Random, items: list[Item], share: float) -> set[str]:
    """Chargeable, frequently used consumables and drugs that will lack a crosswalk."""
    pool = sorted((i for i in items if i.chargeable and i.item_class != "IMPLANT"),
                  key=lambda i: -i.weight)[:40]
    n = _share_count(share, sum(1 for i in items if i.chargeable))
    return {i.item_id for i in rng.sample(pool, min(n, len(pool)))}


def build_contracts(rng: random.Random, items: list[Item], start_ms: int) -> list[ContractPrice]:
    """One or two supplier contracts per item, the newer one valid now."""
    out = []
    n = 0
    for item in items:
        for k in range(rng.choice((1, 1, 2))):
            n += 1
            frm = start_ms - rng.randint(200, 700) * DAY + k * 150 * DAY
            to = None if rng.random() < 0.6 else start_ms + rng.randint(60, 400) * DAY
            out.append(ContractPrice(f"CTR-{n:06d}", item.item_id, item.supplier,
                                     _cents(item.unit_cost * rng.uniform(0.85, 1.0)),
                                     iso_date(frm), iso_date(to) if to else None,
                                     frm + rng.randint(0, 10) * DAY))
    return out


def build_reorder_points(
    rng: random.Random, items: list[Item], locations: list[Location]
) -> list[ReorderPoint]:
    """Reorder point and par level for every item a location's kind uses."""
    out = []
    for loc in locations:
        for item in items:
            if loc.kind in item.areas:
                base = 2 if item.item_class == "IMPLANT" else rng.randint(6, 30)
                out.append(ReorderPoint(item.item_id, loc.location_id, base, base * 3,
                                        loc.modified_ms + rng.randint(0, 30) * DAY))
    return out
