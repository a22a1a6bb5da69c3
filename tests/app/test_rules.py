"""The rules page: the pack in force with its alert states, and validation of an edited
file through the real loader (file:line problems, nothing half-loaded)."""

from __future__ import annotations

from app.shaping.rules import validate_text
from tests.app.conftest import signed_in

GOOD = """rules:
  - id: nack-rate-strict
    name: NACK rate
    metric: nack_rate_pct
    scope: {by: [facility, channel]}
    window: 1h
    warn: 1
    fail: 5
    owner: integration
    stewards: [integration@example.org]
    description: More than a few NACKs per hour.
"""


def test_active_rules_show_their_alert_states(seeded_sqlite) -> None:
    at = signed_in("interface_owner").run()
    at.switch_page("views/rules.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("id")
    assert {"nack-rate", "charge-capture", "collector-down"} <= set(table.index)
    assert table.loc["charge-capture", "firing"] == 1
    assert table.loc["duplicate-charges-usd", "pending"] == 1


def test_a_broken_file_is_refused_with_its_line(seeded_sqlite) -> None:
    at = signed_in("steward").run()
    at.switch_page("views/rules.py").run()
    area = at.text_area[0]
    area.input(GOOD.replace("fail: 5", "fail: 0.5").replace("window: 1h", "window: soon"))
    at.button(key="ru_validate").click().run()
    assert not at.exception, at.exception
    problems = at.code[0].value
    assert "integration.yaml:8:" in problems  # the window line, named by the file's name
    assert "/tmp" not in problems
    area = at.text_area[0]
    area.input(GOOD)
    at.button(key="ru_validate").click().run()
    assert "1 rule(s) valid" in at.success[0].value


def test_validation_reports_every_problem_at_once() -> None:
    problems, count = validate_text("rules:\n  - id: Bad Id\n    window: 1h\n", "site.yaml")
    assert count == 0 and len(problems) >= 3
    assert all(p.startswith("site.yaml:") for p in problems)
