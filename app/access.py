"""Which role may open which page: the one table the navigation is built from (pure)."""

from __future__ import annotations

from dataclasses import dataclass

EXECUTIVE, INTERFACE_OWNER, STEWARD, ADMIN = "executive", "interface_owner", "steward", "admin"
ALL = frozenset({EXECUTIVE, INTERFACE_OWNER, STEWARD, ADMIN})


@dataclass(frozen=True)
class PageSpec:
    """A dashboard page: its file under app/, title, icon and the roles that may open it."""

    path: str
    title: str
    icon: str
    roles: frozenset[str]


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "Overview", ":material/monitoring:", ALL),
    PageSpec("pages/interfaces.py", "Interfaces", ":material/lan:",
             frozenset({INTERFACE_OWNER, ADMIN})),
    PageSpec("pages/drilldown.py", "Drill-down", ":material/table_rows:", ALL),
    PageSpec("pages/lineage.py", "Lineage", ":material/account_tree:", ALL),
    PageSpec("pages/alerts.py", "Alerts", ":material/notifications:",
             frozenset({INTERFACE_OWNER, STEWARD, ADMIN})),
    PageSpec("pages/exceptions.py", "Exceptions", ":material/rule:", frozenset({STEWARD, ADMIN})),
    PageSpec("pages/rules.py", "Rules", ":material/gavel:",
             frozenset({INTERFACE_OWNER, STEWARD, ADMIN})),
    PageSpec("pages/admin.py", "Admin", ":material/admin_panel_settings:", frozenset({ADMIN})),
)


def pages_for(roles: frozenset[str]) -> list[PageSpec]:
    """The pages any of ``roles`` may open, in menu order."""
    return [p for p in PAGES if p.roles & roles]


def may_open(roles: frozenset[str], path: str) -> bool:
    """Whether ``roles`` may open the page at ``path`` (defence in depth inside pages)."""
    return any(p.path == path and p.roles & roles for p in PAGES)
