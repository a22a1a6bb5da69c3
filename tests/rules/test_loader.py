"""Rule files: good files load into frozen rules; bad files are refused whole, every
problem at once, each as ``file:line: key path — problem — example fix``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import RuleFileError
from rules.loader import RuleRegistry, load_rules

METRICS = frozenset({"nack_rate", "queue_age_minutes", "charge_capture_pct"})

GOOD = """\
rules:
  - id: nack-rate
    name: NACK rate per channel
    metric: nack_rate
    scope: {by: [facility, channel]}
    window: 1h
    warn: 0.02
    fail: 0.05
    pending: 10m
    keep_firing: 30m
    owner: integration
    stewards: [interfaces@example.org]
    severity: critical
    description: Share of messages the receiver rejected.
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(*paths: Path) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        load_rules(paths, METRICS)
    assert info.value.exit_code == 5
    return info.value.problems


def test_good_file_loads_frozen_rules(tmp_path: Path) -> None:
    ruleset = load_rules([_write(tmp_path, "ok.yaml", GOOD)], METRICS)
    rule = ruleset.by_id["nack-rate"]
    assert rule.window == timedelta(hours=1)
    assert rule.pending == timedelta(minutes=10)
    assert rule.scope.by == ("facility", "channel")
    assert ruleset.sources[0].rule_ids == ("nack-rate",)
    with pytest.raises(ValidationError):
        rule.fail = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    fail: 0.05\n",
            "    fail: high\n",
            "{f}:8: rules[0].fail — Input should be a valid number, unable to parse string as a "
            "number (got 'high') — e.g. fail: 120",
        ),
        (
            "    metric: nack_rate\n",
            "    metric: nack_rates\n",
            "{f}:4: rules[0].metric — unknown metric 'nack_rates' — e.g. metric: nack_rate",
        ),
        (
            "    severity: critical\n",
            "    severity: critical\n    colour: red\n",
            "{f}:14: rules[0].colour — unknown key 'colour' — remove it; allowed here: id, name, "
            "metric, parameters, scope, window, direction, warn, fail, pending, keep_firing, "
            "owner, stewards, severity, tags, description, runbook, unit, hours",
        ),
        (
            "    fail: 0.05\n",
            "    fail: 0.01\n",
            "{f}:8: rules[0].fail — fail 0.01 must be above warn 0.02 when direction is above — "
            "swap warn and fail, or set direction: below (smaller is worse)",
        ),
        (
            "    window: 1h\n",
            "    window: 1 hour\n",
            "{f}:6: rules[0].window — '1 hour' is not a duration; write it like 15m, 2h or 1d — "
            "e.g. window: 1h",
        ),
        (
            "    name: NACK rate per channel\n",
            "    name: [NACK rate\n",
            "{f}:4: (file) — YAML syntax error: expected ',' or ']', but got ':' — check the "
            "indentation and quoting on this line and the one above",
        ),
        (
            "    scope: {by: [facility, channel]}\n",
            "    scope: {by: [facility, chanel]}\n",
            "{f}:5: rules[0].scope.by — unknown scope key 'chanel'; use one of facility, "
            "location, item_class, channel, source, endpoint, procedure, payer — e.g. by: "
            "[facility, channel]",
        ),
        (
            "    owner: integration\n",
            "",
            "{f}:2: rules[0].owner — required key 'owner' is missing — add owner: revenue-cycle",
        ),
    ],
    ids=["wrong-type", "unknown-metric", "unknown-key", "threshold-order", "bad-duration",
         "yaml-syntax", "unknown-scope-key", "missing-key"],
)
def test_bad_file_gives_exact_file_line_message(tmp_path: Path, old: str, new: str,
                                                expected: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, "bad.yaml", GOOD.replace(old, new))
    assert _problems(path) == [expected.format(f=path)]


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", GOOD)
    second = _write(tmp_path, "b.yaml", GOOD)
    assert _problems(first, second) == [
        f"{second}:2: rules[0].id — duplicate rule id 'nack-rate', first defined at {first}:2 — "
        "give it another id, e.g. id: nack-rate-2"
    ]


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = GOOD.replace("    fail: 0.05\n", "    fail: 0.01\n").replace(
        "    metric: nack_rate\n", "    metric: nack\n") + GOOD.split("rules:\n")[1].replace(
        "    window: 1h\n", "    window: soon\n")
    path = _write(tmp_path, "many.yaml", text)
    problems = _problems(path)
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)
    assert [p.split(" — ")[0].split(": ")[1] for p in problems] == [
        "rules[0].metric", "rules[0].fail", "rules[1].id", "rules[1].window"]


def test_a_bad_reload_keeps_the_running_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, "rules.yaml", GOOD)
    registry = RuleRegistry()
    assert registry.reload([path], METRICS) == []
    running = registry.current
    path.write_text(GOOD.replace("    warn: 0.02\n", "    warn: lots\n"), encoding="utf-8")
    problems = registry.reload([path], METRICS)
    assert len(problems) == 1 and problems[0].startswith(f"{path}:7: rules[0].warn")
    assert registry.current is running
    assert registry.current.by_id["nack-rate"].warn == 0.02


def test_one_bad_file_refuses_the_whole_load(tmp_path: Path) -> None:
    good = _write(tmp_path, "a.yaml", GOOD)
    bad = _write(tmp_path, "b.yaml", "rules:\n  - id: x\n")
    problems = _problems(good, bad)
    assert problems and all(p.startswith(f"{bad}:") for p in problems)


def test_a_colon_in_the_path_keeps_line_order(tmp_path: Path) -> None:
    folder = tmp_path / "site:rules"
    folder.mkdir()
    path = _write(folder, "x.yaml", GOOD.replace("    fail: 0.05\n", "    fail: x\n")
                  .replace("    metric: nack_rate\n", "    metric: nope\n"))
    assert [p.split(" — ")[0] for p in _problems(path)] == [
        f"{path}:4: rules[0].metric", f"{path}:8: rules[0].fail"]


@pytest.mark.parametrize(("scope", "by"), [
    ("{by: [channel]}", ("facility", "channel")),
    ("{match: {channel: DFT_OUT}}", ("facility", "channel")),
    ("{by: [item_class, channel], match: {facility: FAC1}}",
     ("item_class", "facility", "channel")),
    ("{by: [channel, facility]}", ("channel", "facility")),
    ("{by: [facility]}", ("facility",)),
])
def test_a_channel_scope_is_evaluated_per_facility(tmp_path: Path, scope: str,
                                                   by: tuple[str, ...]) -> None:
    """Two facilities' engines may both have a DFT_OUT: a rule naming a channel reads it
    per facility and channel."""
    text = GOOD.replace("scope: {by: [facility, channel]}", f"scope: {scope}")
    rule = load_rules([_write(tmp_path, "r.yaml", text)], METRICS).rules[0]
    assert rule.scope.by == by
