"""Executive KPIs: what each number is, how it is computed from summed inputs, and which
records make it up (pure: the sums are read in SQL by ``app.data.kpis``).

Every KPI is a ratio or a sum of summable columns, so one grouped query per table gives
the numbers for any window, facility or time bucket; the formula is applied afterwards.
The drill target of each KPI names the record set and status that make up the number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

FM_REASONS = ("unknown_item", "no_crosswalk", "cdm_without_hcpcs", "unit_not_convertible")
USAGE_SUMS = ("usages", "due", "on_time", "late", "missing", "missing_usd", "unmapped",
              "inv_due", "inv_accurate", "inv_missing", "qty_mismatch", "supply_cost_usd",
              "billed_usd", *(f"fm_{r}_usd" for r in FM_REASONS), *(f"fm_{r}" for r in FM_REASONS))
# metric_points rows as (num, den, amount), named for the sums they feed.
POINT_METRICS = {"duplicates": ("dup_groups", "dup_units", "dup_usd"),
                 "replenishment": ("repl_hours", "repl_docs", "_repl_amount"),
                 "messages": ("messages", "acked", "nacks")}
SUM_COLUMNS = (*USAGE_SUMS, *(c for cols in POINT_METRICS.values() for c in cols))


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if not den else scale * num / den


def _fm_usd(s: Mapping[str, float]) -> float:
    return sum(s.get(f"fm_{r}_usd", 0.0) for r in FM_REASONS)


@dataclass(frozen=True)
class Kpi:
    """One executive number: how to compute it from sums, and where its records are."""

    key: str
    label: str
    unit: str  # "%", "$", "h" or "#" (a count)
    good_high: bool
    formula: Callable[[Mapping[str, float]], float | None]
    dataset: str  # drill-down dataset behind the number
    status: str = ""  # drill-down status preset
    help: str = ""

    def value(self, sums: Mapping[str, float]) -> float | None:
        """The KPI from a row of sums (``None`` when its denominator is empty)."""
        return self.formula(sums)

    def format(self, value: float | None) -> str:
        """The KPI as shown on a card: ``97.2 %``, ``$12,450``, ``31.5 h``."""
        if value is None:
            return "–"
        if self.unit == "%":
            return f"{value:.1f} %"
        if self.unit == "$":
            return f"${value:,.0f}"
        if self.unit == "#":
            return f"{value:,.0f}"
        return f"{value:,.1f} h"


KPIS: tuple[Kpi, ...] = (
    Kpi("capture", "Charge capture", "%", True,
        lambda s: _ratio(s.get("on_time", 0.0), s.get("due", 0.0), 100.0), "capture",
        help="Chargeable usage events charged within the SLA, over those that are due."),
    Kpi("at_risk", "Revenue at risk", "$", False,
        lambda s: s.get("missing_usd", 0.0) + _fm_usd(s), "at_risk",
        help="Missing charges at CDM price plus the $ of failed mappings."),
    Kpi("duplicates", "Duplicate charges", "$", False, lambda s: s.get("dup_usd", 0.0),
        "duplicates", help="Overcharged $: the amount of charges that repeat an earlier one."),
    Kpi("failed_mapping", "Failed mappings", "$", False, _fm_usd, "mappings",
        help="$ at risk of usage whose item, crosswalk, CDM or unit does not map."),
    Kpi("inventory", "Inventory accuracy", "%", True,
        lambda s: _ratio(s.get("inv_accurate", 0.0), s.get("inv_due", 0.0), 100.0),
        "inventory", help="Due usage events whose inventory issue matches in quantity."),
    Kpi("replenishment", "Replenishment cycle", "h", False,
        lambda s: _ratio(s.get("repl_hours", 0.0), s.get("repl_docs", 0.0)), "replenishment",
        help="Mean hours from requisition created to received."),
    Kpi("margin", "Margin", "$", True,
        lambda s: s.get("billed_usd", 0.0) - s.get("supply_cost_usd", 0.0), "procedures",
        help="Billed minus supply cost at contract price."),
    Kpi("volume", "Usage events", "#", True, lambda s: s.get("usages", 0.0), "usage",
        help="Scans of supplies and implants recorded in the EHR or device tracking."),
)
KPI_BY_KEY = {k.key: k for k in KPIS}
