"""Clinical activity: patients, encounters and supply usage events (scans) per facility.

Volumes follow a mid-size hospital: 1,000-3,000 scans a day, 2-5 % of them implants
(OR and cath lab cases), weekends quieter, nights quieter in the ED.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect
from dataclasses import dataclass

from simulator.records import Encounter, Facility, Item, Location, Patient, Usage
from simulator.timefmt import DAY, HOUR, MINUTE

_SHARES = {"OR": 0.36, "CATH": 0.10, "ED": 0.20, "ICU": 0.14, "MEDSURG": 0.20}
_OR_CPT = ["27447", "27130", "49650", "29881", "47562", "44970", "63650", "19340", "22612",
           "27236"]
_CATH_CPT = ["92928", "33208", "33249", "93458"]
_ED_CPT = ["99283", "99284", "99285"]
_ED_HOURLY = [2, 2, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3, 3]
_FAMILY = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS",
           "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ", "WILSON", "ANDERSON", "THOMAS",
           "TAYLOR", "MOORE", "JACKSON", "MARTIN", "LEE", "NGUYEN", "WHITE", "HARRIS", "CLARK"]
_GIVEN_F = ["MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "SUSAN", "JESSICA", "SARAH",
            "KAREN", "NANCY", "MARIA", "ANA"]
_GIVEN_M = ["JAMES", "ROBERT", "JOHN", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH",
            "THOMAS", "CARLOS", "LUIS", "KEVIN"]


@dataclass(slots=True)
class _Picker:
    """Weighted item choice for one location kind (implants apart from the rest)."""

    implants: list[Item]
    implant_cum: list[float]
    others: list[Item]
    other_cum: list[float]


def _cum(items: list[Item]) -> list[float]:
    return list(itertools.accumulate(i.weight for i in items))


def make_pickers(items: list[Item]) -> dict[str, _Picker]:
    """Per location kind, the items it uses with cumulative popularity weights."""
    out = {}
    for kind in _SHARES:
        imp = [i for i in items if kind in i.areas and i.item_class == "IMPLANT"]
        oth = [i for i in items if kind in i.areas and i.item_class != "IMPLANT"]
        out[kind] = _Picker(imp, _cum(imp), oth, _cum(oth))
    return out


class ActivityBuilder:
    """Builds one facility's encounters and usages over ``[start_ms, end_ms)``."""

    def __init__(self, rng: random.Random, fac: Facility, locations: list[Location],
                 pickers: dict[str, _Picker], volume_scale: float) -> None:
        self.rng = rng
        self.fac = fac
        self.by_kind: dict[str, list[Location]] = {}
        for loc in locations:
            self.by_kind.setdefault(loc.kind, []).append(loc)
        self.pickers = pickers
        self.scale = volume_scale
        self.encounters: list[Encounter] = []
        self.usages: list[Usage] = []
        self._mrn = itertools.count(rng.randint(100000, 900000))
        self._pid = itertools.count(1)
        self._serial = itertools.count(rng.randint(10**8, 5 * 10**8))
        self.clinicians = [f"CLIN-{n:04d}" for n in range(1, 61 + int(fac.size * 60))]
        self._active: dict[str, list[Encounter]] = {}

    # -- people ---------------------------------------------------------------------------
    def _patient(self) -> Patient:
        rng = self.rng
        sex = rng.choice("FM")
        given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
        birth = f"{rng.randint(1935, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        return Patient(f"p-{self.fac.facility_id}-{next(self._pid)}",
                       f"MRN{next(self._mrn):07d}", rng.choice(_FAMILY), given, birth, sex)

    def _encounter(self, loc: Location, cls: str, cpt: str, start: int, end: int) -> Encounter:
        enc = Encounter("", self.fac.facility_id, loc.location_id, self._patient(), cls, cpt,
                        start, end, start + self.rng.randint(20_000, 180_000))
        self.encounters.append(enc)
        return enc

    # -- scans ----------------------------------------------------------------------------
    def _scan(self, enc: Encounter, loc: Location, t: int, implant: bool) -> None:
        rng = self.rng
        pick = self.pickers[loc.kind]
        if implant and pick.implants:
            item = pick.implants[bisect(pick.implant_cum, rng.random() * pick.implant_cum[-1])]
        else:
            item = pick.others[bisect(pick.other_cum, rng.random() * pick.other_cum[-1])]
        qty = 1 if item.max_qty == 1 or rng.random() < 0.7 else rng.randint(2, item.max_qty)
        lot = serial = ""
        if item.item_class != "CONSUMABLE" or rng.random() < 0.4:
            lot = f"LOT{rng.randint(2201, 2612)}{rng.choice('ABCDEFGH')}"
        if item.serialised:
            serial = f"SN{next(self._serial):09d}"
            qty = 1
        self.usages.append(Usage("", self.fac.facility_id, loc.location_id, enc, item,
                                 item.item_id, qty, "EA", lot, serial,
                                 rng.choice(self.clinicians), t - t % 1000))

    def build_day(self, day_ms: int, weekend: bool) -> None:
        """All activity of one calendar day."""
        rng = self.rng
        total = (1500 + self.fac.size * 1100) * (0.78 if weekend else 1.0)
        total *= rng.uniform(0.93, 1.07) * self.scale
        implant_share = rng.uniform(0.028, 0.042)
        procedural = total * (_SHARES["OR"] + _SHARES["CATH"])
        p_implant = implant_share * total / procedural
        self._procedures("OR", day_ms, total * _SHARES["OR"], p_implant, (12, 32), _OR_CPT)
        self._procedures("CATH", day_ms, total * _SHARES["CATH"], p_implant, (8, 20), _CATH_CPT)
        self._emergency(day_ms, total * _SHARES["ED"])
        self._inpatient("ICU", day_ms, total * _SHARES["ICU"], 10 + self.fac.size * 10)
        self._inpatient("MEDSURG", day_ms, total * _SHARES["MEDSURG"], 24 + self.fac.size * 10)

    def _procedures(self, kind: str, day: int, budget: float, p_implant: float,
                    per_case: tuple[int, int], cpts: list[str]) -> None:
        rng = self.rng
        rooms = self.by_kind[kind]
        clock = [day + 7 * HOUR + rng.randint(0, 30) * MINUTE for _ in rooms]
        used = 0
        n = 0
        while used < budget:
            r = n % len(rooms)
            n += 1
            start = clock[r]
            dur = rng.randint(45, 240) * MINUTE
            clock[r] = start + dur + rng.randint(20, 45) * MINUTE
            enc = self._encounter(rooms[r], rng.choice(("AMB", "AMB", "IMP")),
                                  rng.choice(cpts), start - 90 * MINUTE, start + dur + 3 * HOUR)
            k = rng.randint(*per_case)
            for _ in range(k):
                self._scan(enc, rooms[r], start + int(rng.random() * dur),
                           rng.random() < p_implant)
            used += k

    def _emergency(self, day: int, budget: float) -> None:
        rng = self.rng
        loc = self.by_kind["ED"][0]
        used = 0
        while used < budget:
            hour = rng.choices(range(24), weights=_ED_HOURLY)[0]
            start = day + hour * HOUR + rng.randint(0, HOUR - 1)
            dur = rng.randint(60, 360) * MINUTE
            enc = self._encounter(loc, "EMER", rng.choice(_ED_CPT), start, start + dur)
            k = rng.randint(1, 6)
            for _ in range(k):
                self._scan(enc, loc, start + 10 * MINUTE + int(rng.random() * (dur - 10 * MINUTE)),
                           False)
            used += k

    def _inpatient(self, kind: str, day: int, budget: float, beds_total: float) -> None:
        rng = self.rng
        units = self.by_kind[kind]
        beds = max(4, int(beds_total / len(units)))
        per_unit = budget / len(units)
        for loc in units:
            active = [e for e in self._active.get(loc.location_id, []) if e.end_ms > day]
            while len(active) < beds:
                start = day + rng.randint(0, 20 * HOUR)
                los = rng.randint(1, 6) * DAY + rng.randint(-6, 6) * HOUR
                active.append(self._encounter(loc, "IMP", "99291" if kind == "ICU" else "99223",
                                              start, start + max(los, 8 * HOUR)))
            self._active[loc.location_id] = active
            for _ in range(int(per_unit)):
                enc = active[rng.randrange(len(active))]
                lo, hi = max(enc.start_ms + 15 * MINUTE, day), min(enc.end_ms, day + DAY)
                if hi <= lo:  # discharged early in the day: scan between admission and discharge
                    lo, hi = max(enc.start_ms, day), max(enc.end_ms, max(enc.start_ms, day) + 1)
                self._scan(enc, loc, lo + int(rng.random() * (hi - lo)), False)
