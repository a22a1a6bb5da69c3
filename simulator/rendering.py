"""Renderings: the same estate written the way other hospitals' systems write it.

A ``Rendering`` changes only how records become wire payloads (FHIR JSON, OData JSON,
HL7 bytes); the records and ``truth.json`` stay byte for byte what the seed made. So a
metric must give the same figures on every rendering of a seed: that is what the
metamorphic tests check. ``RENDERINGS`` names the presets; ``plain`` is the estate's
own conventions (UTC ``Z``, links on every record, line totals, LF after each message).

Every random choice of a rendering is drawn from its own stream per feature and record
(``random.Random(f"{seed}:render:{feature}:{record id}")``), so a rendering is
deterministic, and a feature draws the same in every preset that has it (the lag of a
transaction in ``world`` is its lag in ``erp_lag``).

The collectors read a rendering through field-mapping overrides (collectors/mapping.py):
``mapping_overrides`` gives each demo source's override, only what differs from
collectors/mappings/*.yaml.
"""

from __future__ import annotations

import random
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import ConfigError

# Facility n writes in zone n-1 (cycling): US zones with DST (New York's fall-back on the
# first Sunday of November falls in windows ending in early November), a half-hour zone
# without DST (Kolkata +05:30), half-hour zones with DST on either hemisphere (St John's
# -03:30/-02:30, Adelaide +09:30/+10:30) and Europe.
LOCAL_ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Australia/Adelaide",
    "America/St_Johns",
)

# demo source name (simulator.sources) -> what it reads
SOURCES = ("billing", "ehr-usage", "erp", "engine-logs")


class Rendering(BaseModel):
    """How an estate's records are written to the wire (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # IANA zone the systems of facility n (FAC01 = 1) write local times in: zones[n-1],
    # cycling; empty = UTC as today (``Z``, ``+0000``)
    zones: tuple[str, ...] = ()
    # the EHR (SupplyDelivery) writes UTC ``Z`` while billing, HL7 and ERP use the zones
    usage_in_utc: bool = False
    # share of ChargeItems sent without the usage-id and hl7-control-id extensions
    charge_link_dropout: float = Field(0.0, ge=0, le=1)
    # of every injected duplicate group, exactly one copy (at random) has no links
    duplicate_one_copy_unlinked: bool = False
    # share of ISSUE/RETURN transactions sent with an empty UsageRef
    issue_link_dropout: float = Field(0.0, ge=0, le=1)
    # PostedAt = stock movement (MovedAt) + a lag in [min, max] minutes, never past the
    # truth's as-of time; (0, 0) = no lag and no MovedAt field, as today
    erp_posting_lag_minutes: tuple[int, int] = (0, 0)
    # ChargeItem.priceOverride.value: the line total, or the unit price (total / quantity)
    price_basis: Literal["total", "unit"] = "total"
    # each ACK in the HL7 logs is followed by CR LF instead of LF
    ack_crlf: bool = False
    # the ACKs go to a log of their own beside each message log,
    # <channel>/<channel>-<YYYYMMDD>.ack.hl7 (which sorts before <channel>-<YYYYMMDD>.hl7:
    # a reader of the folder meets an ACK before its message)
    separate_ack_log: bool = False
    # how the payers send their remittances: X12 835 files only (``x12``, the demo), or
    # also as FHIR ExplanationOfBenefit on the billing API (``fhir``; the 835 files are
    # written as well, and each claim payment keeps one remittance_id either way)
    remittance: Literal["x12", "fhir"] = "x12"

    @field_validator("zones")
    @classmethod
    def _known_zones(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
        for name in zones:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {name!r}, e.g. America/New_York"
                                 ) from None
        return zones

    @model_validator(mode="after")
    def _lag_bounds(self) -> Rendering:
        low, high = self.erp_posting_lag_minutes
        if not 0 <= low <= high:
            raise ValueError("erp_posting_lag_minutes must be (min, max) with 0 <= min <= max")
        if self.usage_in_utc and not self.zones:
            raise ValueError("usage_in_utc needs zones (without them everything is UTC)")
        return self

    @property
    def is_plain(self) -> bool:
        """True when payloads are exactly the estate's own (no field differs)."""
        return self == PLAIN

    @property
    def lagged(self) -> bool:
        return self.erp_posting_lag_minutes[1] > 0

    def facility_time_zones(self, facility_ids: list[str]) -> dict[str, str]:
        """``{FAC01: America/New_York, ...}`` for these facilities (empty without zones)."""
        if not self.zones:
            return {}
        return {fid: self.zones[i % len(self.zones)] for i, fid in enumerate(facility_ids)}

    def mapping_overrides(self, facility_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Per demo source (``billing``, ``ehr-usage``, ``erp``, ``engine-logs``), the
        field-mapping override its collector needs to read this rendering; sources
        that read it with the defaults are absent."""
        out: dict[str, dict[str, Any]] = {}
        if self.price_basis == "unit":
            out["billing"] = {"ChargeItem": {"fields": {
                "amount": {"path": "priceOverride.value", "times": "quantity.value"}}}}
        if self.usage_in_utc:
            # the EHR's times carry no local offset: its calendar dates (as: date) need
            # the facility's zone; the other sources write local offsets already, and
            # the same zones there are harmless and keep every source consistent
            zones = self.facility_time_zones(facility_ids)
            for source in SOURCES:
                out.setdefault(source, {})["facility_time_zones"] = zones
        return out

    def rng(self, seed: int, feature: str, record_id: str) -> random.Random:
        """The random stream of one feature of one record."""
        return random.Random(f"{seed}:render:{feature}:{record_id}")


PLAIN = Rendering()
_LOCAL: dict[str, Any] = {"zones": LOCAL_ZONES}
_MIXED: dict[str, Any] = {**_LOCAL, "usage_in_utc": True}
_UNLINKED: dict[str, Any] = {"charge_link_dropout": 0.5, "issue_link_dropout": 0.5,
                             "duplicate_one_copy_unlinked": True}
_LAG: dict[str, Any] = {"erp_posting_lag_minutes": (1, 1440)}
_UNIT: dict[str, Any] = {"price_basis": "unit"}
_CRLF: dict[str, Any] = {"ack_crlf": True}
_ACK_LOG: dict[str, Any] = {"separate_ack_log": True}

RENDERINGS: dict[str, Rendering] = {
    "plain": PLAIN,
    "local": Rendering(**_LOCAL),
    "mixed_zones": Rendering(**_MIXED),
    "unlinked": Rendering(**_UNLINKED),
    "erp_lag": Rendering(**_LAG),
    "unit_price": Rendering(**_UNIT),
    "crlf_acks": Rendering(**_CRLF),
    "world": Rendering(**_MIXED, **_UNLINKED, **_LAG, **_UNIT, **_CRLF, **_ACK_LOG),
}


def get_rendering(value: str | Rendering | None) -> Rendering:
    """A preset by name (``None`` = plain), or the rendering given."""
    if value is None:
        return PLAIN
    if isinstance(value, Rendering):
        return value
    try:
        return RENDERINGS[value]
    except KeyError:
        raise ConfigError(f"unknown rendering {value!r}; use one of "
                          f"{', '.join(RENDERINGS)}") from None


def rendering_name(rendering: Rendering) -> str:
    """The preset name of ``rendering``, or ``custom``."""
    return next((name for name, r in RENDERINGS.items() if r == rendering), "custom")

