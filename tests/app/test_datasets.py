"""Every drill-down record set names columns the store has (the metric tables change;
this says which dataset to fix), and none shows patient tokens or raw payloads."""

from __future__ import annotations

import pytest

from app.data.datasets import DATASETS
from app.shaping.datasets import RECORD_SETS

FORBIDDEN = {"patient_token", "raw_payload", "record_hash"}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_columns_exist_and_hide_phi(name: str) -> None:
    ds = DATASETS[name]
    for column in (*ds.columns, *ds.key_columns, ds.time_column,
                   *(c for c in (ds.status_column, ds.channel_column) if c)):
        assert ds.has(column), f"{name}: no column {column!r}"
    assert not FORBIDDEN & set(ds.columns)
    assert ds.name == name


def test_the_drilldown_time_indexes_exist(engine) -> None:
    """Migration 0040 made them; a later rebuild of a metrics table must keep them, or the
    drill-down scans the whole fact table again (bench/pages.py shows it)."""
    from sqlalchemy import inspect

    found = {(t, i["name"]) for t in ("metric_usage_facts", "usage_events", "charges")
             for i in inspect(engine).get_indexes(t)}
    assert {("metric_usage_facts", "ix_app_usage_facts_used"),
            ("usage_events", "ix_app_usage_events_used"),
            ("charges", "ix_app_charges_posted")} <= found


def test_every_record_set_a_page_offers_has_its_sql() -> None:
    """``app.shaping.datasets`` says what a page shows; ``app.data.datasets`` reads it."""
    assert list(DATASETS) == list(RECORD_SETS)
    assert all(DATASETS[n].columns == s.columns for n, s in RECORD_SETS.items())
