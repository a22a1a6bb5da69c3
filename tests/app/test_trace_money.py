"""The Lineage page's trace from the charge on: claim line and remittance line lanes, a
denied line drawn as an error, each with its link method in words."""

from __future__ import annotations

from datetime import UTC, datetime

from app.charts import trace_timeline
from app.shaping.trace import LANES, hops, verdict
from metrics.read.trace import Hop, Trace

T = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def test_the_money_hops_have_lanes_after_the_charge_and_say_how_they_were_linked() -> None:
    trail = (
        Hop("usage", "U1", T, "", "", {"item": "IMP1", "quantity": "1 EA", "location": "OR"}),
        Hop("charge", "C1", T, "usage_id", "posted", {"cdm": "CDM1", "amount": "100.00"}),
        Hop("claim_line", "CLM-1#2", T, "fallback", "", {
            "claim": "CLM-1", "line": "2", "charge": "C1", "revenue_code": "0278",
            "procedure": "C1776", "units": "1", "amount": "100.00"}),
        Hop("remittance_line", "TRN:CLM-1:P#2", T, "line_control", "denied", {
            "claim": "CLM-1", "claim_line": "2", "clp02": "4", "paid": "0.00",
            "billed": "100.00", "remarks": "N290"}))
    trace = Trace("U1", "E1", "FAC01", trail, "", (), "on_time", "n/a")
    drawn = {h.lane: h for h in hops(trace)}
    assert LANES.index("Billing charge") < LANES.index("Claim line") < LANES.index(
        "Remittance line")
    assert drawn["Claim line"].detail == ("claim CLM-1 line 2: C1776 × 1 $100.00 · linked by "
                                          "fallback")
    assert drawn["Remittance line"].status == "error"
    assert drawn["Remittance line"].detail == ("denied $0.00 of $100.00, CLP02 4 (N290) · "
                                               "linked by line control")
    assert verdict(trace).lane == "complete"  # the charge path's verdict is unchanged
    figure = trace_timeline(hops(trace), "Remittance line", "U1")
    assert list(figure.layout.yaxis.categoryarray) == list(LANES)
    assert tuple(figure.layout.yaxis.range) == (-0.5, len(LANES) - 0.5)
