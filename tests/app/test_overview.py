"""The overview page: per-facility counts from the store, for every role."""

from __future__ import annotations

import pytest

ROLES = ["executive", "interface_owner", "steward", "admin"]


@pytest.mark.parametrize("role", ROLES)
def test_overview_shows_store_volumes(app_as, seeded, role):
    at = app_as(role).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Usage events"] == f"{sum(c['usage'] for c in seeded.values()):,}"
    assert metrics["Charges"] == f"{sum(c['charges'] for c in seeded.values()):,}"
    table = at.dataframe[0].value
    for facility, counts in seeded.items():
        assert table.loc[facility, "Usage events"] == counts["usage"]
        assert table.loc[facility, "Interface messages"] == counts["messages"]
        assert table.loc[facility, "Inventory issues"] == counts["issues"]
