"""Lineage: the system graph from ``metrics.lineage.graph`` and the transaction trace by any id,
with where the chain stopped."""

from __future__ import annotations

import json

from tests.app.conftest import signed_in


def _trace(key: str):
    """The lineage page opened by a link carrying ``?trace=<key>``."""
    at = signed_in("steward")
    at.query_params["trace"] = [key]
    at.switch_page("views/lineage.py").run()
    assert not at.exception, at.exception
    return at


def _hops(at) -> list[dict]:
    table = next(df.value for df in at.dataframe if "lane" in df.value.columns)
    return table.to_dict("records")


def _early(ids: set[str], fac: str = "FAC01") -> str:
    return min(u for u in ids if u.startswith(f"U-{fac}"))


def test_a_missing_charge_stops_at_billing(seeded) -> None:
    usage_id = _early(seeded.truth.missing_charge)
    at = _trace(usage_id)
    assert any("stopped at **Billing charge**" in e.value for e in at.error)
    lanes = [h["lane"] for h in _hops(at)]
    assert lanes[0] == "EHR scan" and "Billing charge" not in lanes
    assert "Engine sent" in lanes


def test_every_kind_of_key_finds_the_same_usage(seeded) -> None:
    truth = seeded.truth
    usage_id = _early(truth.duplicated)
    charge_ids = truth.charges[usage_id]
    for key in (usage_id, charge_ids[1], truth.messages[usage_id]):
        at = _trace(key)
        hops = _hops(at)
        assert hops[0]["id"] == usage_id, key
        statuses = {h["id"]: h["status"] for h in hops if h["lane"] == "Billing charge"}
        assert statuses == {charge_ids[0]: "ok", charge_ids[1]: "duplicate"}
    at = _trace(truth.encounters[usage_id])
    assert usage_id in at.selectbox(key="ln_usage").options


def test_a_nacked_message_shows_the_error_and_the_resend(seeded_sqlite) -> None:
    truth = seeded_sqlite.truth
    control = min(c for c in truth.nacked if c.startswith("MSG-FAC01"))
    at = _trace(control)
    sent = [h for h in _hops(at) if h["lane"] == "Engine sent"]
    assert [h["status"] for h in sent] == ["error", "ok"]
    assert "NACK AE" in sent[0]["detail"]


def test_unknown_key_says_what_to_paste(seeded_sqlite) -> None:
    at = _trace("NOT-AN-ID")
    assert "Nothing found for 'NOT-AN-ID'" in at.warning[0].value


def test_system_graph_colours_the_failing_erp(seeded_sqlite) -> None:
    at = signed_in("executive").run()
    at.switch_page("views/lineage.py").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    nodes = {c[0]: t["name"] for t in spec["data"] if t.get("mode") == "markers"
             and t.get("name") for c in t["customdata"]}
    assert nodes["erp"] == "degraded" or nodes["erp"] == "down"
    assert nodes["channel:FAC01/FAC01_CHG_OUT"] in ("ok", "degraded")  # (facility, name)
    assert {"ehr", "billing", "supplier"} <= set(nodes)


def test_a_duplicate_trace_names_the_charge_to_credit(seeded) -> None:
    truth = seeded.truth
    usage_id = _early(truth.duplicated)
    original, extra = truth.charges[usage_id][:2]
    at = _trace(extra)
    assert not at.success  # never "every hop arrived" in green
    said = " ".join(e.value for e in at.error)
    assert f"charged twice: credit {extra}" in said and f"repeats {original}" in said


def test_an_encounter_trace_shows_every_usage(seeded_sqlite) -> None:
    truth = seeded_sqlite.truth
    usage_id = _early(truth.duplicated)
    encounter = truth.encounters[usage_id]
    mine = {u for u, e in truth.encounters.items() if e == encounter}
    at = _trace(encounter)
    usages = next(df.value for df in at.dataframe if "Verdict" in df.value.columns)
    assert set(usages["Usage"]) == mine
    assert usages.iloc[0]["Verdict"] == "problem"  # problems first, opened first
    assert at.selectbox(key="ln_usage").value == usages.iloc[0]["Usage"]
