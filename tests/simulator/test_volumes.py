"""At volume_scale 1.0 the estate looks like mid-size hospitals (pure generation, no HTTP)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.timefmt import DAY


@pytest.fixture(scope="module")
def estate() -> Estate:
    return build_estate(EstateConfig(seed=3, facilities=2, days=7, volume_scale=1.0,
                                     end=datetime(2026, 11, 23, tzinfo=UTC),
                                     faults=FaultRates.preset("default")), progress=False)


def test_daily_scans_and_implant_share_are_realistic(estate: Estate) -> None:
    for fac in estate.facilities:
        per_day: Counter[int] = Counter(u.used_ms // DAY for u in fac.usages)
        assert len(per_day) == 7
        assert all(1000 <= n <= 3000 for n in per_day.values()), per_day
        implants = sum(u.item is not None and u.item.item_class == "IMPLANT" for u in fac.usages)
        assert 0.02 <= implants / len(fac.usages) <= 0.05
        weekday = [n for d, n in per_day.items() if (d + 3) % 7 < 5]
        weekend = [n for d, n in per_day.items() if (d + 3) % 7 >= 5]
        assert sum(weekend) / len(weekend) < sum(weekday) / len(weekday)


def test_codes_units_lots_and_serials_look_real(estate: Estate) -> None:
    cdm = {c.cdm_code: c for c in estate.catalog.cdm}
    xw = {x.item_id: x.cdm_code for x in estate.catalog.crosswalk}
    items = estate.catalog.items
    implants = [i for i in items if i.item_class == "IMPLANT"]
    assert all(i.hcpcs.startswith("C") and i.revenue_code == "0278" for i in implants)
    assert {cdm[xw[i.item_id]].revenue_code for i in items
            if i.item_class == "CONSUMABLE" and i.item_id in xw} == {"0272"}
    assert len({i.hcpcs for i in implants}) >= 10
    assert all(len(c.cdm_code) == 10 and c.cdm_code.isdigit() for c in cdm.values())
    units: defaultdict[str, set[int]] = defaultdict(set)
    for i in items:
        assert i.units["EA"] == 1
        for uom, factor in i.units.items():
            units[uom].add(factor)
    assert set(units) == {"EA", "BX", "CS"}
    cased = [i for i in items if "CS" in i.units]
    assert cased and all(i.units["CS"] % i.units["BX"] == 0 and i.units["CS"] > i.units["BX"]
                         for i in cased)
    scans = [u for f in estate.facilities for u in f.usages if u.item is not None]
    implant_scans = [u for u in scans if u.item.item_class == "IMPLANT"]
    assert all(u.lot for u in implant_scans)
    serials = [u.serial for u in implant_scans if u.item.serialised]
    assert serials and all(serials) and len(set(serials)) > 0.95 * len(serials)
    assert not any(u.serial for u in scans if not u.item.serialised)


def test_downstream_volumes_follow_the_scans(estate: Estate) -> None:
    counts = estate.truth["counts"]
    assert counts["usage_events"] > 14_000
    assert 0.6 < counts["charges"] / counts["usage_events"] < 0.95
    assert 0.9 < counts["inventory_transactions"] / counts["usage_events"] < 1.1
    assert counts["encounters"] > 1000 and counts["claims"] > 500
    assert counts["purchase_requisitions"] > 50
    assert counts["malformed_hl7"] > 0 and counts["acks"] <= counts["messages"]
