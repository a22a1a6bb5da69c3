"""Every drill-down record set names columns the store has (the metric tables change;
this says which dataset to fix), and none shows patient tokens or raw payloads."""

from __future__ import annotations

import pytest

from app.datasets import DATASETS

FORBIDDEN = {"patient_token", "raw_payload", "record_hash"}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_columns_exist_and_hide_phi(name: str) -> None:
    ds = DATASETS[name]
    for column in (*ds.columns, *ds.key_columns, ds.time_column,
                   *(c for c in (ds.status_column, ds.channel_column) if c)):
        assert ds.has(column), f"{name}: no column {column!r}"
    assert not FORBIDDEN & set(ds.columns)
    assert ds.name == name
