"""Every page for every role: what it shows, what it refuses. A page a role may not see
is not registered with ``st.navigation``, so switching to it raises (it is not routable)."""

from __future__ import annotations

import pytest

from app.access import PAGES, pages_for
from tests.app.conftest import ROLES, page_text, signed_in
from tests.app.factories import FAKE_PHI, FAKE_PHI_2

TITLES = {p.path: p.title for p in PAGES}
LANDING = {"executive": "Overview", "interface_owner": "Interfaces", "steward": "Alerts",
           "admin": "Overview"}
PHI_FRAGMENTS = ("DOE^JANE", "MRN0012345", "19700101", "RICHARD", *FAKE_PHI.split("|")[5:6],
                 FAKE_PHI_2[30:60])


def _assert_no_phi(text: str) -> None:
    for fragment in PHI_FRAGMENTS:
        assert fragment not in text


@pytest.mark.parametrize("role", ROLES)
def test_role_sees_its_pages_and_cannot_route_to_others(seeded_sqlite, role: str) -> None:
    at = signed_in(role).run()
    assert not at.exception, at.exception
    assert at.title[0].value == LANDING[role]
    allowed = {p.path for p in pages_for(frozenset({role}))}
    for path in TITLES:
        if path in allowed:
            at.switch_page(path).run()
            assert not at.exception, (path, at.exception)
            assert at.title[0].value == TITLES[path]
            assert not at.error or path in ("views/interfaces.py", "views/admin.py"), \
                [e.value for e in at.error]
            _assert_no_phi(page_text(at))
        else:
            with pytest.raises(ValueError):
                at.switch_page(path)
    sidebar = " ".join(str(c.value) for c in at.sidebar.caption)
    assert f"{role}@test" in sidebar


@pytest.mark.parametrize("path", [p.path for p in PAGES])
def test_every_page_renders_from_the_store(seeded, path: str) -> None:
    """Each page on both backends, as the admin (who may open them all)."""
    at = signed_in("admin").run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    assert at.title[0].value == TITLES[path]
    _assert_no_phi(page_text(at))


def test_a_revoked_role_takes_effect_on_the_next_run(seeded_sqlite) -> None:
    from sqlalchemy import delete

    from store.schema_app import app_user_roles

    at = signed_in("admin").run()
    at.switch_page("views/admin.py").run()
    assert at.title[0].value == "Admin"
    with seeded_sqlite.engine.begin() as conn:
        conn.execute(delete(app_user_roles).where(app_user_roles.c.email == "admin@test"))
    import streamlit as st

    st.cache_data.clear()  # the role cache lives a minute; a new process would not have it
    at.run()
    assert [t.value for t in at.title] == ["Chargeline"]  # back at the sign-in form
