"""The role table the navigation is built from (pure)."""

from __future__ import annotations

import pytest

from app.access import PAGES, ROLES, home_for, may_open, pages_for, sections_for
from store.schema_app import ROLES as STORE_ROLES

ALL_PAGES = {p.path for p in PAGES}
EXPECTED = {
    "executive": {"views/overview.py", "views/drilldown.py", "views/lineage.py",
                  "views/recall.py", "views/revenue.py"},
    "interface_owner": {"views/overview.py", "views/drilldown.py", "views/interfaces.py",
                        "views/lineage.py", "views/alerts.py", "views/rules.py"},
    "steward": {"views/overview.py", "views/drilldown.py", "views/lineage.py",
                "views/alerts.py", "views/exceptions.py", "views/recall.py",
                "views/revenue.py", "views/rules.py"},
    "admin": ALL_PAGES,
}


@pytest.mark.parametrize(("role", "pages"), EXPECTED.items())
def test_each_role_sees_exactly_its_pages(role: str, pages: set[str]) -> None:
    assert {p.path for p in pages_for(frozenset({role}))} == pages
    for path in ALL_PAGES:
        assert may_open(frozenset({role}), path) == (path in pages)


@pytest.mark.parametrize(("roles", "home"), [
    ({"executive"}, "views/overview.py"),
    ({"interface_owner"}, "views/interfaces.py"),
    ({"steward"}, "views/alerts.py"),
    ({"admin"}, "views/overview.py"),
    ({"steward", "executive"}, "views/overview.py"),
    ({"steward", "interface_owner"}, "views/interfaces.py"),
])
def test_each_role_lands_on_its_own_question(roles: set[str], home: str) -> None:
    assert home_for(frozenset(roles)) == home
    assert may_open(frozenset(roles), home)


def test_no_role_sees_nothing_and_sections_keep_menu_order() -> None:
    assert pages_for(frozenset()) == []
    assert not may_open(frozenset({"auditor"}), "views/overview.py")
    sections = sections_for(frozenset({"admin"}))
    assert list(sections) == ["Business", "Operations", "Work", "Governance"]
    assert [p.path for specs in sections.values() for p in specs] == [p.path for p in PAGES]
    assert {p.url_path for p in PAGES} == {"overview", "drilldown", "interfaces", "lineage",
                                           "alerts", "exceptions", "recall", "rules",
                                           "admin", "revenue"}


def test_the_roles_offered_are_the_stores() -> None:
    """The forms and ``chargeline users add`` offer ``app.access.ROLES``; the store checks
    ``store.schema_app.ROLES``: one list, in one order."""
    assert ROLES == STORE_ROLES
