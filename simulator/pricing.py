"""The prices billing and the ERP book, and their two price faults.

Billing posts a charge at its CDM line's price per base unit (simulator.flow); the ERP
books an inventory issue at the contract price valid on the day the stock moved (the
lowest when several are, per base unit as contract prices are; the item master's unit
cost when none is). Two faults move some of them, each from its own random stream, so
every other draw of the estate stays as it was:

- ``cdm_price_drift``: a share of the charges that survive (positive, not voided, not
  reversed by a credit) post at a unit price 5-20 % above or below the CDM price, to the
  cent and never within 2 cents of it; the amount stays the line total, base quantity x
  that price, so a rendering that sends unit prices sends that very price;
- ``cost_above_contract``: a share of the issues book a unit cost 5-25 % above that
  contract price (at least 2 cents above); an over-issue's RETURN carries its issue's cost.

The amounts are changed before claims and remittances are built from them, so every other
figure of the truth (a duplicate's overcharge, a claim's total, DNFB $) is read from the
prices as posted.
"""

from __future__ import annotations

import random
from collections import defaultdict

from simulator.flow import Trail
from simulator.records import Charge, ContractPrice, Item
from simulator.timefmt import iso_date

VOIDED = "entered-in-error"
DRIFT = (0.05, 0.20)
ABOVE_CONTRACT = (0.05, 0.25)
MIN_GAP = 0.02  # dollars per unit: a fault is never within the metrics' one-cent tolerance


def contracts_by_item(contracts: list[ContractPrice]) -> dict[str, list[ContractPrice]]:
    out: dict[str, list[ContractPrice]] = defaultdict(list)
    for c in contracts:
        out[c.item_id].append(c)
    return out


def contract_price(contracts: list[ContractPrice], day: str) -> float | None:
    """The lowest price of the contracts valid on ``day`` (``YYYY-MM-DD``, both ends
    inclusive), or None when none is."""
    valid = [c.price for c in contracts
             if c.valid_from <= day and (c.valid_to is None or c.valid_to >= day)]
    return min(valid) if valid else None


def _cents(value: float) -> float:
    return round(value + 1e-9, 2)


def drift_charges(rng: random.Random, charges: list[Charge], prices: dict[str, float],
                  rate: float) -> None:
    """Post a share ``rate`` of the surviving charges off their CDM price (module doc);
    ``Charge.list_price`` keeps the CDM price of each one moved."""
    if rate <= 0:
        return
    reversed_ids = {c.part_of for c in charges if c.quantity < 0 and c.status != VOIDED}
    for c in charges:
        if c.quantity <= 0 or c.status == VOIDED or c.charge_id in reversed_ids:
            continue
        if rng.random() >= rate:
            continue
        price = prices[c.cdm_code]
        sign = rng.choice((-1, 1))
        unit = _cents(price * (1 + sign * rng.uniform(*DRIFT)))
        if abs(unit - price) < MIN_GAP or unit <= 0:
            unit = _cents(price + MIN_GAP) if sign > 0 or price <= MIN_GAP else _cents(
                price - MIN_GAP)
        c.list_price = price
        c.amount = _cents(c.quantity * unit)


def book_issue_costs(rng: random.Random, trails: list[Trail], items: dict[str, Item],
                     contracts: dict[str, list[ContractPrice]], rate: float) -> None:
    """Book each ISSUE at its contract price, a share ``rate`` above it (module doc);
    ``InventoryTxn.contract_cost`` keeps the contract price of each one."""
    for t in trails:
        issue = t.issue
        if issue is None:
            continue
        price = contract_price(contracts.get(issue.item_id, []), iso_date(issue.posted_ms))
        if price is None:
            issue.unit_cost = items[issue.item_id].unit_cost
        else:
            issue.contract_cost = price
            issue.unit_cost = price
            if rate > 0 and rng.random() < rate:
                issue.unit_cost = max(_cents(price * (1 + rng.uniform(*ABOVE_CONTRACT))),
                                      _cents(price + MIN_GAP))
        if t.returned is not None:
            t.returned.unit_cost = issue.unit_cost
