"""The catalog of metric names: the contract between ``metrics`` (which computes them) and
``rules`` (which sets thresholds on them) and the dashboard.

Each entry says what the number is, its unit, which scope keys it can be split by and
which parameters it takes. ``metrics/README.md`` gives the full definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

# Scope keys a metric can be split by (``MetricReader.values(scope_keys=...)``).
FACILITY = "facility"
LOCATION = "location"
ITEM_CLASS = "item_class"
CHANNEL = "channel"
SOURCE = "source"
ENDPOINT = "endpoint"
PROCEDURE = "procedure"
PAYER = "payer"
CARC = "carc"  # an adjustment's group and reason code, "CO-16"

_USAGE_SCOPES = frozenset({FACILITY, LOCATION, ITEM_CLASS})
_LATENCY_SCOPES = frozenset({FACILITY, LOCATION, ITEM_CLASS, CHANNEL})
_CHANNEL_SCOPES = frozenset({FACILITY, CHANNEL})
_API_SCOPES = frozenset({SOURCE, ENDPOINT})
_CLAIM_SCOPES = frozenset({FACILITY, PAYER})

FAILED_MAPPING_REASONS = (
    "unknown_item",
    "no_crosswalk",
    "cdm_without_hcpcs",
    "unit_not_convertible",
)
HOPS = ("received", "sent", "charge", "inventory")
# CAS group codes that deny (contractual, payer initiated, other); PR is the patient's
# share (deductible, coinsurance) and CR a correction: neither is a denial.
DENIAL_GROUPS = ("CO", "OA", "PI")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: name, unit, what it means, and how it may be scoped and parametrised."""

    name: str
    unit: str
    description: str
    scopes: frozenset[str]
    params: tuple[str, ...] = ()
    higher_is_better: bool = False


# A message is *held* when the receiver acknowledged it more than this long after the
# engine received it: the receiver was down or slow. A healthy receiver ACKs in seconds.
HELD_AFTER_S = 300.0


def _spec(name: str, unit: str, description: str, scopes: frozenset[str], *,
          params: tuple[str, ...] = (), good_high: bool = False) -> MetricSpec:
    return MetricSpec(name, unit, description, scopes, params, good_high)


CATALOG: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        # --- charge capture -------------------------------------------------------------
        _spec("charge_capture_pct", "%", "chargeable usage events charged within the SLA, "
              "over chargeable usage events that are due (charged, missing or unmapped)",
              _USAGE_SCOPES, good_high=True),
        _spec("missing_charges", "count", "chargeable, mapped usage events with no "
              "surviving charge once the billing feed is past their SLA deadline",
              _USAGE_SCOPES),
        _spec("late_charges", "count", "usage events whose first charge posted after the SLA",
              _USAGE_SCOPES),
        _spec("pending_charges", "count", "chargeable usage events not charged yet and "
              "still within their SLA (or the billing feed has not caught up)",
              _USAGE_SCOPES),
        _spec("revenue_leakage_usd", "USD", "missing charges x base quantity x CDM price",
              _USAGE_SCOPES),
        _spec("revenue_at_risk_usd", "USD", "revenue leakage plus failed-mapping $ at risk",
              _USAGE_SCOPES),
        _spec("charge_within_sla_pct", "%", "charged usage events whose first charge "
              "posted within the SLA, over charged usage events", _USAGE_SCOPES,
              good_high=True),
        # charge lag (HFMA: days from date of service to charge posting)
        _spec("charge_lag_days_mean", "days", "mean days from usage to its first charge "
              "posted, over the usage events of the window that have one", _LATENCY_SCOPES),
        _spec("charge_lag_days_p90", "days", "p90 (nearest rank) of those days",
              _LATENCY_SCOPES),
        _spec("late_charges_usd_pct", "%", "$ of late charges (base qty x CDM price) over "
              "gross billed $ (surviving, non-duplicate charges) of the window's usage events",
              _USAGE_SCOPES),
        # --- failed mappings --------------------------------------------------------------
        _spec("failed_mapping_count", "count", "usage events whose item does not map; "
              "param reason: unknown_item|no_crosswalk|cdm_without_hcpcs|"
              "unit_not_convertible (empty = all)", _USAGE_SCOPES, params=("reason",)),
        _spec("failed_mapping_usd", "USD", "$ at risk of failed mappings (param reason)",
              _USAGE_SCOPES, params=("reason",)),
        _spec("open_exceptions", "count", "open, acknowledged or investigating rows of the "
              "exception queue (param kind); not windowed", frozenset({FACILITY}),
              params=("kind",)),
        # --- duplicate charges ------------------------------------------------------------
        _spec("duplicate_groups", "count", "groups of surviving charges sharing a business "
              "key (usage id, control id + CDM, or encounter + CDM + serial in the window)",
              _USAGE_SCOPES),
        _spec("duplicate_extra_units", "units", "units of the extra charges of the groups",
              _USAGE_SCOPES),
        _spec("duplicate_charge_usd", "USD", "overcharged $: amount of the extra charges",
              _USAGE_SCOPES),
        # --- hop latency -----------------------------------------------------------------
        *(
            _spec(f"{hop}_latency_p{p}_minutes", "minutes",
                  f"p{p} (nearest rank) of minutes from usage to {hop}", _LATENCY_SCOPES)
            for hop in HOPS
            for p in (50, 95, 99)
        ),
        _spec("implant_charge_latency_p95_minutes", "minutes",
              "p95 minutes from usage to charge posted, implants only", _LATENCY_SCOPES),
        # --- inventory reconciliation ------------------------------------------------------
        _spec("missing_inventory_issues", "count", "usage events of known items with no "
              "inventory issue once the ERP feed is past the inventory SLA", _USAGE_SCOPES),
        _spec("charged_not_issued", "count", "charged usage events with a missing inventory "
              "issue (stock overstated)", _USAGE_SCOPES),
        _spec("issued_not_charged", "count", "issued chargeable usage events with no "
              "surviving charge after the SLA or no mapping (leakage)", _USAGE_SCOPES),
        _spec("quantity_mismatches", "count", "usage events whose issued or charged base "
              "quantity differs from the scanned base quantity", _USAGE_SCOPES),
        _spec("inventory_accuracy_pct", "%", "issued usage events whose issue matches in "
              "quantity, over usage events due an issue", _USAGE_SCOPES, good_high=True),
        _spec("stock_posting_delay_p95_minutes", "minutes", "p95 minutes usage -> "
              "stock moved for it (the first ISSUE's movement time, else its posting time)",
              _LATENCY_SCOPES),
        _spec("erp_booking_lag_p95_minutes", "minutes", "p95 minutes from stock moved to "
              "the ERP posting its ISSUE document, of issues posted in the window whose "
              "source sends both times", frozenset({FACILITY, LOCATION})),
        _spec("inventory_within_sla_pct", "%", "issued usage events whose issue posted "
              "within the inventory SLA", _LATENCY_SCOPES, good_high=True),
        # --- interface health -------------------------------------------------------------
        _spec("messages_received", "count", "messages the engine received (message log)",
              _CHANNEL_SCOPES),
        _spec("messages_errored", "count", "messages in status E", _CHANNEL_SCOPES),
        _spec("messages_filtered", "count", "messages in status F", _CHANNEL_SCOPES),
        _spec("messages_sent", "count", "messages in status S", _CHANNEL_SCOPES),
        _spec("messages_held", "count", "messages the receiver acknowledged more than "
              f"{HELD_AFTER_S / 60:g} minutes after the engine received them (it was down or "
              "slow)", _CHANNEL_SCOPES),
        _spec("message_rate_per_hour", "msg/h", "received messages per hour of window",
              _CHANNEL_SCOPES),
        _spec("nack_rate_pct", "%", "AE/AR acknowledgements over acknowledged messages",
              _CHANNEL_SCOPES),
        _spec("queue_depth", "count", "messages queued at the newest engine snapshot in the "
              "window (status Q in the log without one)", _CHANNEL_SCOPES),
        _spec("queue_age_minutes", "minutes", "age of the oldest queued message at that "
              "snapshot (0 when the queue is empty)", _CHANNEL_SCOPES),
        _spec("channel_stopped", "level", "the channel's state at the newest engine "
              "snapshot in the window that says one: 2 stopped (or in error), 1 paused, 0 "
              "running; a facility's worst channel", _CHANNEL_SCOPES),
        # --- API / collector health -------------------------------------------------------
        _spec("api_p95_ms", "ms", "p95 (nearest rank) response time of API calls",
              _API_SCOPES),
        _spec("api_error_rate_pct", "%", "API calls that failed (status >= 400 or a "
              "transport error) over all calls", _API_SCOPES),
        _spec("api_throttled", "count", "HTTP 429 answers", _API_SCOPES),
        _spec("minutes_since_success", "minutes", "minutes since the last successful "
              "collector run of the source (since its first run when none succeeded)",
              frozenset({SOURCE})),
        _spec("freshness_minutes", "minutes", "minutes since the newest record the source "
              "delivered, beyond its expected_every_minutes (a daily feed: 1440); ERROR while "
              "its last run failed", frozenset({SOURCE})),
        _spec("volume_anomaly_z", "z", "z-score of the window's volume against the same "
              "window on the same weekday of the past 8 weeks (3+ weeks of history), else "
              "on the 7 days before (0 below the minimum absolute change); param "
              "feed: messages (facility, channel) | usage (facility, location)",
              frozenset({FACILITY, CHANNEL, LOCATION}), params=("feed",)),
        # --- supply chain and finance -----------------------------------------------------
        _spec("replenishment_cycle_hours", "hours", "mean hours requisition created -> "
              "received, of requisitions received in the window",
              frozenset({FACILITY, LOCATION})),
        _spec("margin_usd", "USD", "billed (surviving, non-duplicate charges) minus supply "
              "cost at contract price, by procedure", frozenset({FACILITY, PROCEDURE}),
              good_high=True),
        # --- denials (remittances; HFMA MAP Keys) ----------------------------------------
        _spec("denial_rate_count_pct", "%", "claims initially denied over claims with an "
              "initial remittance (earliest non-reversal) paid in the window; amount = "
              "denied charge $", _CLAIM_SCOPES),
        _spec("denial_rate_usd_pct", "%", "charge $ (CLP03) of initially denied claims over "
              "charge $ of claims initially remitted in the window", _CLAIM_SCOPES),
        _spec("denied_open_usd", "USD", "charge $ of the window's initially denied claims "
              "whose latest non-reversal remittance is still a denial (not since paid)",
              _CLAIM_SCOPES),
        _spec("denial_reason_count", "count", "CO/PI/OA adjustments (claim and line) of the "
              "initial remittances that denied their claims, by carc (CO-16); amount = $; "
              "param reason: a group (CO) or group-CARC (CO-16), empty = all",
              _CLAIM_SCOPES | {CARC}, params=("reason",)),
        _spec("denial_reason_usd", "USD", "$ of those adjustments (param reason)",
              _CLAIM_SCOPES | {CARC}, params=("reason",)),
        _spec("denials_known_cause_usd", "USD", "billed $ of the window's denied lines "
              "(initial remittance) whose charge Chargeline already knew a problem of: its "
              "usage's failed mapping, a duplicate's extra, a charged quantity off the scan; "
              "param cause (cdm_without_hcpcs, duplicate, ...; empty = any); already counted "
              "as failed-mapping or overcharge $ before billing, never added to revenue at "
              "risk", _CLAIM_SCOPES, params=("cause",)),
        _spec("denials_known_cause_count", "count", "denied lines with that known cause "
              "(param cause); amount = their $, denominator = denied lines",
              _CLAIM_SCOPES, params=("cause",)),
        # --- underpayments (remittance lines against the configured payer contracts) -----
        _spec("underpaid_lines", "count", "lines of the initial remittances paid in the "
              "window whose expected payment (payer_contracts: HCPCS fee, revenue-code term "
              "or percent of charges) exceeds paid + patient responsibility by more than a "
              "cent; amount = that $; denied lines and payers without a contract are not "
              "judged (detail judged_lines, not_judged_lines, over_usd)", _CLAIM_SCOPES),
        _spec("underpayment_usd", "USD", "sum of expected - (paid + patient responsibility) "
              "over those lines; overpayments are not netted (detail over_usd)",
              _CLAIM_SCOPES),
        # --- implant traceability --------------------------------------------------------
        _spec("expired_devices_used", "count", "usages scanned in the window whose device's "
              "UDI expiry (17) is before the facility's local date of use",
              frozenset({FACILITY, LOCATION})),
        # --- discharged not final billed (HFMA MAP Keys) ----------------------------------
        _spec("dnfb_usd", "USD", "gross $ of encounters discharged more than the hold "
              "(sla.dnfb_hold_days, 4) before the claims horizon that no claim bills; amount "
              "= the $, detail encounters; a stock at now, not windowed",
              frozenset({FACILITY})),
        _spec("dnfb_days", "days", "DNFB $ over average daily gross revenue (charges posted "
              "in the 30 days before the claims horizon)", frozenset({FACILITY})),
        _spec("encounter_reconciliation_pct", "%", "encounters discharged in the window "
              "moved back by the hold whose every chargeable scan has a posted charge, every "
              "surviving charge a billing claim and every claim a remittance that is no open "
              "denial (sla.remit_days, 30, to answer), over those judged; detail per gap "
              "(charge, claim, payment) encounters and $", frozenset({FACILITY}),
              good_high=True),
        # --- prices against their masters (chargemaster integrity, supply contracts) ------
        _spec("cdm_price_drift_count", "count", "surviving charges posted in the window whose "
              "unit price (amount / quantity) differs from their CDM line's price by more "
              "than one cent; amount = their absolute $, detail charges judged",
              frozenset({FACILITY})),
        _spec("cdm_price_drift_usd", "USD", "sum of |amount - quantity x CDM price| of "
              "those charges (absolute); detail net_usd (signed), over_usd, under_usd",
              frozenset({FACILITY})),
        _spec("supply_cost_above_contract_count", "count", "inventory issues posted in the "
              "window booked at a unit cost above the contract price valid on their day",
              frozenset({FACILITY, LOCATION})),
        _spec("supply_cost_above_contract_usd", "USD", "(unit cost - contract price) x base "
              "quantity of those issues", frozenset({FACILITY, LOCATION})),
    )
}

METRIC_NAMES: frozenset[str] = frozenset(CATALOG)


def spec(name: str) -> MetricSpec:
    """The spec of ``name``; raise ``KeyError`` listing close names when it is unknown."""
    try:
        return CATALOG[name]
    except KeyError:
        close = sorted(n for n in CATALOG if n.split("_")[0] == name.split("_")[0])
        hint = f"; did you mean {', '.join(close)}" if close else ""
        raise KeyError(f"unknown metric {name!r}{hint}") from None
