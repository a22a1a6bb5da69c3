"""Which role may open which page: the one table the navigation is built from (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

EXECUTIVE, INTERFACE_OWNER, STEWARD, ADMIN = "executive", "interface_owner", "steward", "admin"
# The roles a user may hold, in the store's order (the same as ``store.schema_app.ROLES``;
# a test keeps the two equal): the forms and the CLI offer them without reading the schema.
ROLES: tuple[str, ...] = (EXECUTIVE, INTERFACE_OWNER, STEWARD, ADMIN)
ALL = frozenset(ROLES)


@dataclass(frozen=True)
class PageSpec:
    """A dashboard page: its file under app/, title, icon, menu section and the roles that
    may open it."""

    path: str
    title: str
    icon: str
    section: str
    roles: frozenset[str]

    @property
    def url_path(self) -> str:
        """The page's URL path (``views/drilldown.py`` -> ``drilldown``), as Streamlit
        derives it: deep links in e-mails use it."""
        return PurePosixPath(self.path).stem


PAGES: tuple[PageSpec, ...] = (
    PageSpec("views/overview.py", "Overview", ":material/monitoring:", "Business", ALL),
    PageSpec("views/drilldown.py", "Drill-down", ":material/table_rows:", "Business", ALL),
    PageSpec("views/revenue.py", "Revenue cycle", ":material/payments:", "Business",
             frozenset({EXECUTIVE, STEWARD, ADMIN})),
    PageSpec("views/interfaces.py", "Interfaces", ":material/lan:", "Operations",
             frozenset({INTERFACE_OWNER, ADMIN})),
    PageSpec("views/lineage.py", "Lineage", ":material/account_tree:", "Operations", ALL),
    PageSpec("views/alerts.py", "Alerts", ":material/notifications:", "Work",
             frozenset({INTERFACE_OWNER, STEWARD, ADMIN})),
    PageSpec("views/exceptions.py", "Exceptions", ":material/rule:", "Work",
             frozenset({STEWARD, ADMIN})),
    PageSpec("views/recall.py", "Recall", ":material/medical_services:", "Work",
             frozenset({STEWARD, ADMIN, EXECUTIVE})),
    PageSpec("views/rules.py", "Rules", ":material/gavel:", "Governance",
             frozenset({INTERFACE_OWNER, STEWARD, ADMIN})),
    PageSpec("views/admin.py", "Admin", ":material/admin_panel_settings:", "Governance",
             frozenset({ADMIN})),
)

# Where each role lands after signing in: the page that answers its question first.
HOME: tuple[tuple[str, str], ...] = (
    (EXECUTIVE, "views/overview.py"),
    (ADMIN, "views/overview.py"),
    (INTERFACE_OWNER, "views/interfaces.py"),
    (STEWARD, "views/alerts.py"),
)


def pages_for(roles: frozenset[str]) -> list[PageSpec]:
    """The pages any of ``roles`` may open, in menu order."""
    return [p for p in PAGES if p.roles & roles]


def home_for(roles: frozenset[str]) -> str:
    """The landing page of a user with ``roles`` (the first role in ``HOME`` wins)."""
    for role, path in HOME:
        if role in roles:
            return path
    return PAGES[0].path


def sections_for(roles: frozenset[str]) -> dict[str, list[PageSpec]]:
    """The pages of ``roles`` grouped by menu section, in menu order."""
    out: dict[str, list[PageSpec]] = {}
    for page in pages_for(roles):
        out.setdefault(page.section, []).append(page)
    return out


def may_open(roles: frozenset[str], path: str) -> bool:
    """Whether ``roles`` may open the page at ``path`` (defence in depth inside pages)."""
    return any(p.path == path and p.roles & roles for p in PAGES)
