"""What estate to build: seed, size, time window and fault rates (frozen pydantic models)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import ConfigError

# Per-usage fault and trap kinds: a usage event draws at most one of these.
USAGE_FAULT_KINDS = (
    "duplicate_charge",
    "unknown_item",
    "unit_not_convertible",
    "late_charge",
    "missing_charge",
    "missing_inventory_issue",
    "nack",
    "out_of_order",
    "trap_reversal_recharge",
    "trap_distinct_scans",
    "trap_bx_conversion",
    "trap_charge_after_window",
    "trap_voided_recharge",
    "trap_issue_return",
)
# Master-data faults: a share of items (no_crosswalk) or of CDM lines (cdm_without_hcpcs).
ITEM_FAULT_KINDS = ("no_crosswalk", "cdm_without_hcpcs")
# Per-message and per-request faults.
HTTP_FAULT_KINDS = ("http_5xx", "timeout", "http_429", "truncated_json")

Preset = Literal["none", "default", "high"]


class FaultRates(BaseModel):
    """Fault rates. Per-usage kinds are shares of usage events; ``no_crosswalk`` is a share
    of chargeable items, ``cdm_without_hcpcs`` of CDM lines (at least one when above 0);
    ``malformed_hl7`` a share of HL7 messages; ``channel_outage`` a chance per facility
    and day; ``claim_denial`` a share of remitted claims, ``line_denial`` of paid claims
    with two lines or more; ``underpayment`` of paid claims of contracted payers;
    ``dnfb_hold`` a share of charged encounters; ``cdm_price_drift`` a share of surviving
    charges, ``cost_above_contract`` of inventory issues with a contract price; HTTP kinds
    a share of first attempts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duplicate_charge: float = Field(0.004, ge=0, le=1)
    unknown_item: float = Field(0.002, ge=0, le=1)
    unit_not_convertible: float = Field(0.001, ge=0, le=1)
    late_charge: float = Field(0.008, ge=0, le=1)
    missing_charge: float = Field(0.005, ge=0, le=1)
    missing_inventory_issue: float = Field(0.004, ge=0, le=1)
    nack: float = Field(0.003, ge=0, le=1)
    out_of_order: float = Field(0.002, ge=0, le=1)
    trap_reversal_recharge: float = Field(0.002, ge=0, le=1)
    trap_distinct_scans: float = Field(0.003, ge=0, le=1)
    trap_bx_conversion: float = Field(0.01, ge=0, le=1)
    trap_charge_after_window: float = Field(0.002, ge=0, le=1)
    # billing voids a charge as entered in error and posts it again
    trap_voided_recharge: float = Field(0.002, ge=0, le=1)
    # the ERP issues too many units and takes the surplus back with a RETURN
    trap_issue_return: float = Field(0.002, ge=0, le=1)
    no_crosswalk: float = Field(0.01, ge=0, le=1)
    cdm_without_hcpcs: float = Field(0.01, ge=0, le=1)
    malformed_hl7: float = Field(0.001, ge=0, le=1)
    # chance per facility and day that billing goes down for 30-60 minutes and the charge
    # channel queues (simulator.outages)
    channel_outage: float = Field(0.05, ge=0, le=1)
    # payers' denials on the 835 remittances (simulator.remittance): a share of claims
    # denied whole (CO-16, CO-4, CO-97, CO-29), a share of paid claims with one line denied
    claim_denial: float = Field(0.08, ge=0, le=1)
    line_denial: float = Field(0.05, ge=0, le=1)
    # a share of paid claims of payers with a contract with one line paid 5-30 % short of
    # the contract (a stale fee schedule: CO-45 too large; or a multiple-procedure cut
    # CO-59 the contract does not allow)
    underpayment: float = Field(0.04, ge=0, le=1)
    # billing holds a share of charged encounters 5-9 days past discharge before it
    # final-bills them (a coding query, missing documentation): discharged not final billed
    dnfb_hold: float = Field(0.03, ge=0, le=1)
    # billing posts a share of its charges at a unit price 5-20 % off the CDM line's (a
    # stale or overridden price: chargemaster drift), and the ERP books a share of its
    # issues 5-25 % above the contract price of the day (simulator.pricing)
    cdm_price_drift: float = Field(0.01, ge=0, le=1)
    cost_above_contract: float = Field(0.01, ge=0, le=1)
    http_5xx: float = Field(0.02, ge=0, le=1)
    timeout: float = Field(0.0, ge=0, le=1)
    http_429: float = Field(0.02, ge=0, le=1)
    truncated_json: float = Field(0.01, ge=0, le=1)

    @classmethod
    def preset(cls, name: str, **overrides: float) -> FaultRates:
        """``none`` (all zero), ``default`` or ``high`` (about 5x), then per-kind overrides."""
        if name == "none":
            base = {k: 0.0 for k in cls.model_fields}
        elif name == "default":
            base = cls().model_dump()
        elif name == "high":
            base = {k: min(1.0, v * 5) for k, v in cls().model_dump().items()}
            base["timeout"] = 0.0  # a timeout costs a real wait; ask for it explicitly
        else:
            raise ConfigError(f"unknown fault preset {name!r}; use none, default or high")
        unknown = set(overrides) - set(cls.model_fields)
        if unknown:
            raise ConfigError(
                f"unknown fault kind(s) {sorted(unknown)}; known: {sorted(cls.model_fields)}"
            )
        base.update(overrides)
        return cls(**base)

    def usage_total(self) -> float:
        """Sum of the per-usage rates (must stay below 1)."""
        return sum(getattr(self, k) for k in USAGE_FAULT_KINDS)


def default_end() -> datetime:
    """Today 00:00 UTC."""
    return datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)


class EstateConfig(BaseModel):
    """The estate to generate. ``end`` is exclusive; the window is ``days`` before it.
    ``live_horizon_days`` extends generation past ``end`` (live mode)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 7
    facilities: int = Field(3, ge=1, le=50)
    days: int = Field(7, ge=1, le=366)
    end: datetime = Field(default_factory=default_end)
    faults: FaultRates = Field(default_factory=FaultRates)
    live_horizon_days: int = Field(0, ge=0, le=30)
    volume_scale: float = Field(1.0, gt=0, le=5)  # tests may shrink volumes; 1.0 is realistic

    @field_validator("end")
    @classmethod
    def _end_is_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("faults")
    @classmethod
    def _rates_fit(cls, value: FaultRates) -> FaultRates:
        if value.usage_total() >= 0.9:
            raise ValueError("per-usage fault rates sum to 0.9 or more; lower some of them")
        return value
