"""Payer contracts as a contract manager configures them, and the payment they promise.

A contract (``payer_contracts`` in the settings) is one payer's terms over a period: a rate
sheet of lines — a fee per unit for an HCPCS code, or a revenue-code carve-out paid per
unit or at a percent of the line's charge — and a default percent of billed charges for
every other line. The *expected* payment of a claim line is the most specific term of the
contract valid on its date of service: the HCPCS fee x units, else the revenue code's
term, else the default percent of its charge; none (no contract that day, or no term and
no default): the line is not judged. Pure: no I/O, Decimal money rounded half-up to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


class ContractTerm(BaseModel):
    """One line of a contract's rate sheet: ``hcpcs`` or ``revenue_code`` (one of them) and
    ``rate_per_unit`` or ``pct_of_charges`` (one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hcpcs: str = Field(default="", pattern=r"^([A-Za-z0-9]{5})?$")
    revenue_code: str = Field(default="", pattern=r"^(\d{4})?$")
    # to the cent and the hundredth of a percent, as rate sheets are written (the metrics
    # compute in whole cents on both store backends)
    rate_per_unit: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    pct_of_charges: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)

    @field_validator("hcpcs")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _one_of_each(self) -> ContractTerm:
        if bool(self.hcpcs) == bool(self.revenue_code):
            raise ValueError("give exactly one of hcpcs or revenue_code")
        if (self.rate_per_unit is None) == (self.pct_of_charges is None):
            raise ValueError("give exactly one of rate_per_unit or pct_of_charges")
        return self

    @property
    def key(self) -> str:
        return f"hcpcs {self.hcpcs}" if self.hcpcs else f"revenue code {self.revenue_code}"

    def pays(self, units: Decimal, charge: Decimal) -> Decimal:
        if self.rate_per_unit is not None:
            return self.rate_per_unit * units
        assert self.pct_of_charges is not None
        return charge * self.pct_of_charges / HUNDRED


class PayerContract(BaseModel):
    """One payer's terms from ``effective_from`` to ``effective_to`` (inclusive; none:
    open-ended), by the line's date of service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payer_id: str = Field(min_length=1, max_length=64)
    name: str = ""
    default_pct_of_charges: Decimal | None = Field(default=None, ge=0, le=100,
                                                   decimal_places=2)
    lines: list[ContractTerm] = []
    effective_from: date
    effective_to: date | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _named(cls, data: Any, handler: Any) -> PayerContract:
        # pydantic names a bad field by its list index (payer_contracts.2.lines.0...): say
        # whose contract it is, so the contract manager finds it in a long file
        try:
            contract = handler(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: "
                f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
            raise ValueError(f"contract {_label(data)}: {problems}") from None
        problem = contract.inconsistency()
        if problem:
            raise ValueError(f"contract {contract.label()}: {problem}")
        return contract

    def inconsistency(self) -> str:
        """What is wrong with the contract as a whole ("" when nothing)."""
        if self.effective_to is not None and self.effective_to < self.effective_from:
            return (f"effective_to {self.effective_to} is before effective_from "
                    f"{self.effective_from}")
        keys = [t.key for t in self.lines]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            return f"lines: {', '.join(twice)} is given twice"
        return ""

    def valid_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None
                                               or day <= self.effective_to)

    def label(self) -> str:
        return f"{self.payer_id} ({self.name})" if self.name else self.payer_id


def _label(data: Any) -> str:
    if isinstance(data, PayerContract):
        return data.label()
    if isinstance(data, dict):
        payer, name = data.get("payer_id", "?"), data.get("name", "")
        return f"{payer} ({name})" if name else str(payer)
    return "?"


def check_no_overlap(contracts: Sequence[PayerContract]) -> None:
    """Refuse two contracts of one payer valid on a same day: which one pays would be
    a guess. The message names both."""
    by_payer: dict[str, list[PayerContract]] = {}
    for c in contracts:
        by_payer.setdefault(c.payer_id, []).append(c)
    for terms in by_payer.values():
        terms = sorted(terms, key=lambda c: c.effective_from)
        for a, b in pairwise(terms):
            if a.effective_to is None or a.effective_to >= b.effective_from:
                raise ValueError(
                    f"contracts of payer {a.payer_id} overlap: {a.label()} from "
                    f"{a.effective_from} to {a.effective_to or 'open'} and {b.label()} from "
                    f"{b.effective_from}; end the first before the second starts")


@dataclass(frozen=True, slots=True)
class Expected:
    """The payment a contract promises for one line and the term that decided it."""

    amount: Decimal
    basis: str  # "hcpcs C1776", "revenue code 0278", "default % of charges"


def hcpcs_of(procedure_code: str) -> str:
    """The HCPCS/CPT code of an 835 SVC01 (``HC:C1776:RT`` -> ``C1776``); "" for another
    qualifier (``NU:0278`` carries a revenue code only)."""
    parts = procedure_code.strip().upper().split(":")
    if len(parts) == 1:
        return parts[0]
    return parts[1] if parts[0] == "HC" else ""


class ContractBook:
    """The configured contracts, looked up by payer and date of service."""

    def __init__(self, contracts: Iterable[PayerContract]) -> None:
        self.by_payer: dict[str, list[PayerContract]] = {}
        for c in contracts:
            self.by_payer.setdefault(c.payer_id, []).append(c)

    @property
    def payers(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_payer))

    def contract(self, payer_id: str, day: date | None) -> PayerContract | None:
        if day is None:
            return None
        for c in self.by_payer.get(payer_id, ()):
            if c.valid_on(day):
                return c
        return None

    def expected(self, payer_id: str, day: date | None, procedure_code: str,
                 revenue_code: str, units: Decimal, charge: Decimal) -> Expected | None:
        """The line's expected payment (module doc), or None when no term judges it (nor
        a line without charge or units: a credit's)."""
        contract = self.contract(payer_id, day)
        if contract is None or units <= 0 or charge <= 0:
            return None
        return expected_payment(contract, hcpcs_of(procedure_code), revenue_code, units,
                                charge)


def expected_payment(contract: PayerContract, hcpcs: str, revenue_code: str,
                     units: Decimal, charge: Decimal) -> Expected | None:
    """The most specific term of ``contract`` for a line: HCPCS, revenue code, default."""
    term = next((t for t in contract.lines if hcpcs and t.hcpcs == hcpcs.upper()), None)
    if term is None:
        term = next((t for t in contract.lines
                     if revenue_code and t.revenue_code == revenue_code), None)
    if term is not None:
        return Expected(_cents(term.pays(units, charge)), term.key)
    if contract.default_pct_of_charges is None:
        return None
    return Expected(_cents(charge * contract.default_pct_of_charges / HUNDRED),
                    "default % of charges")


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
