"""The steward's queue shaped for reading (pure): the queues and their filters, what to act
on, readable headers, the date of service and the problem's age, and where each row's
trace is (the queue itself is read in SQL by ``app.data.exceptions_queue``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from app.shaping.facilities import facility_label

# "Missing charges" means what it means on the Overview (no charge within the SLA); a late
# charge did post, so it has a queue of its own.
QUEUES: dict[str, tuple[str, ...]] = {
    "Failed mappings": ("unknown_item", "no_crosswalk", "cdm_without_hcpcs",
                        "unit_not_convertible"),
    "Duplicate charges": ("duplicate_charge",),
    "Missing charges": ("missing_charge",),
    "Late charges": ("late_charge",),
    "Inventory": ("missing_inventory_issue", "quantity_mismatch"),
}
OPEN_STATUSES = ("open", "acknowledged", "investigating")
SORTS = ("amount", "age")  # biggest $ first, or oldest date of service first


@dataclass(frozen=True)
class QueueFilters:
    """Which exceptions to list: a queue (kinds), statuses, facility, assignee."""

    queue: str = "Failed mappings"
    statuses: tuple[str, ...] = OPEN_STATUSES
    facility: str = ""
    assignee: str = ""
    sort: str = "amount"


KIND_WORDS = {
    "duplicate_charge": "duplicate charge", "missing_charge": "missing charge",
    "late_charge": "late charge", "missing_inventory_issue": "missing inventory issue",
    "quantity_mismatch": "quantity mismatch", "unknown_item": "unknown item",
    "no_crosswalk": "no crosswalk", "cdm_without_hcpcs": "CDM line without HCPCS",
    "unit_not_convertible": "unit does not convert",
}
SHOWN = ["Problem", "Act on", "Facility", "Amount", "Date of service", "Age", "Status",
         "Assignee", "Note"]


def extras(row: dict[str, Any]) -> list[str]:
    """The extra charges of a duplicate group (the ones to credit)."""
    return [c for c in str(row.get("charge_ids") or "").split(",") if c]


def act_on(row: dict[str, Any]) -> str:
    """What a steward acts on: the charge(s) to credit for a duplicate, else the subject
    (the usage, item, unit or CDM code)."""
    if row.get("kind") == "duplicate_charge":
        return "credit " + ", ".join(extras(row) or [str(row.get("subject", ""))])
    return str(row.get("subject", ""))


def note(row: dict[str, Any]) -> str:
    """The row's detail in words (a duplicate: which charge it repeats)."""
    if row.get("kind") == "duplicate_charge":
        return f"repeats {row.get('subject', '')} ({row.get('detail') or 'same usage'})"
    return str(row.get("detail") or "")


def age_text(service_at: Any, now: datetime) -> str:
    """``3 d 4 h``, ``5 h 10 min``, ``12 min``; ``""`` when unknown."""
    if service_at is None or pd.isna(service_at):
        return ""
    minutes = max(0, int((now - pd.Timestamp(service_at).to_pydatetime()).total_seconds()
                         // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def trace_key(row: dict[str, Any]) -> str:
    """The id whose trace shows the row's problem: the extra charge of a duplicate, else
    its first usage, else its subject."""
    if row.get("kind") == "duplicate_charge" and extras(row):
        return extras(row)[0]
    usages = [u for u in str(row.get("usage_ids") or "").split(",") if u]
    return usages[0] if usages else str(row.get("subject", ""))


def frame(rows: pd.DataFrame, now: datetime,
          names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The queue as shown: readable headers and words, no raw ``None``; a facility named
    as everywhere (``St. Mary Regional (FAC01)``, from ``names``)."""
    out = []
    for row in rows.to_dict("records"):
        out.append({
            "Problem": KIND_WORDS.get(row["kind"], str(row["kind"]).replace("_", " ")),
            "Act on": act_on(row),
            "Facility": facility_label(row["facility_id"], names or {}) or "–",
            "Amount": float(row["amount"] or 0.0), "Date of service": row["service_at"],
            "Age": age_text(row["service_at"], now),
            "Status": str(row["status"]).replace("_", " "), "Assignee": row["assignee"] or "",
            "Note": note(row),
        })
    shown = pd.DataFrame(out, columns=SHOWN)
    shown["Date of service"] = pd.to_datetime(shown["Date of service"], utc=True)
    return shown
