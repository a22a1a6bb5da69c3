"""The alerting pass on the store: one pass at a time across processes (no digest planned
twice), stale passes skipped, every pass logged, and the tables exactly as migrated."""

from __future__ import annotations

import threading
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, select

from alerting import workflow
from alerting.data.instances import CALM_REFRESH_PASSES, load_states
from alerting.digest import inhibited
from alerting.policy import NotificationPolicy
from alerting.service import cached_lineage, evaluate_and_notify, notify
from core.config import load_settings
from metrics.lineage.data import live_lineage
from rules.loader import RuleSet
from store.schema import metadata
from store.schema_alerting import alert_outbox, alert_state_history
from tests.alerting.factories import T0, TableReader, make_rule, value

NACK = make_rule()
RULES = RuleSet((NACK,), (), {NACK.id: NACK})
POLICY = NotificationPolicy(group_wait=timedelta(0))
CH1 = {"facility": "FAC01", "channel": "FAC01_CHG_OUT"}
ALERTING_TABLES = {"alert_instances", "alert_state_history", "alert_actions", "alert_silences",
                   "notification_groups", "alert_outbox", "alert_evaluations",
                   "rule_file_versions"}


def _settings(store_url: str):
    return load_settings(database_url=store_url)


def test_alerting_tables_match_their_migrations(engine) -> None:
    ours = MetaData()
    for table in metadata.sorted_tables:
        if table.name in ALERTING_TABLES:
            table.to_metadata(ours)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), ours)
    relevant = [d for d in diff if not (d[0] == "remove_table" or (
        d[0] == "remove_index" and d[1].table.name not in ALERTING_TABLES))]
    assert relevant == []


def test_passes_are_logged_and_a_stale_pass_writes_nothing(engine, store_url) -> None:
    reader = TableReader({"nack_rate": [value("nack_rate", CH1, 0.2)]})
    first = evaluate_and_notify(engine, _settings(store_url), reader, T0 + timedelta(minutes=5),
                                rules=RULES, policy=POLICY)
    assert (first.firing, first.queued, first.skipped) == (1, 1, "")
    late = evaluate_and_notify(engine, _settings(store_url),
                               TableReader({"nack_rate": [value("nack_rate", CH1, 0.0)]}), T0,
                               rules=RULES, policy=POLICY)
    assert late.skipped.startswith("a pass at 2026-11-18T10:05:00")
    assert [r.state for r in workflow.list_alerts(engine)] == ["firing"]  # not resolved
    runs = workflow.evaluations(engine)
    assert [(r["at"], r["instances"], r["firing"], r["queued"], bool(r["skipped"]))
            for r in runs] == [(T0, 0, 0, 0, True), (T0 + timedelta(minutes=5), 1, 1, 1, False)]
    assert runs[1]["finished_at"] is not None
    # the same pass again (a retried job) neither repeats the change nor the e-mail
    again = evaluate_and_notify(engine, _settings(store_url), reader, T0 + timedelta(minutes=5),
                                rules=RULES, policy=POLICY)
    assert (again.transitions, again.queued) == (0, 0)
    assert notify(engine, _settings(store_url), T0 + timedelta(minutes=6), rules=RULES,
                  policy=POLICY) == 0


class _GatedReader(TableReader):
    """Both passes read their metrics, then wait for each other: they reach the write
    phase together, as two collector processes finishing a poll at once would."""

    def __init__(self, table, gate: threading.Barrier) -> None:
        super().__init__(table)
        self.gate = gate

    def values(self, metric, *, window, scope_keys, now, params=None):
        out = super().values(metric, window=window, scope_keys=scope_keys, now=now)
        self.gate.wait(timeout=20)
        return out


def test_two_concurrent_passes_queue_one_digest(engine, store_url) -> None:
    gate = threading.Barrier(2)
    table = {"nack_rate": [value("nack_rate", CH1, 0.2)]}
    reports, errors = [], []

    def run(at):
        try:
            reports.append(evaluate_and_notify(engine, _settings(store_url),
                                               _GatedReader(table, gate), at, rules=RULES,
                                               policy=POLICY))
        except Exception as exc:  # surfaced below; a thread would swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(T0 + timedelta(seconds=s),)) for s in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.queued for r in reports) == [0, 1]
    with engine.connect() as conn:
        assert len(conn.execute(select(alert_outbox.c.id)).all()) == 1
        fired = conn.execute(select(alert_state_history.c.to_state)).scalars().all()
    assert fired == ["firing"]  # one transition, not one per pass


def test_state_changes_are_written_at_once_calm_values_in_turn(engine, store_url) -> None:
    """A breach is stored in the pass that saw it; a calm instance whose value alone moved
    is refreshed when its turn comes, within CALM_REFRESH_PASSES passes."""
    scopes = [{"facility": f"FAC{i:02d}", "channel": f"FAC{i:02d}_OUT"} for i in range(20)]

    def run(at, numbers):
        reader = TableReader({"nack_rate": [value("nack_rate", s, n)
                                            for s, n in zip(scopes, numbers, strict=True)]})
        evaluate_and_notify(engine, _settings(store_url), reader, at, rules=RULES,
                            policy=POLICY)
        return {r.scope["facility"]: (r.state, r.value) for r in workflow.list_alerts(engine)}

    assert set(run(T0, [0.01] * 20).values()) == {("ok", 0.01)}
    stored = run(T0 + timedelta(minutes=1), [0.3] + [0.015] * 19)
    assert stored["FAC00"] == ("firing", 0.3)  # the change is in the store at once
    calm = {v for k, v in stored.items() if k != "FAC00"}
    assert calm == {("ok", 0.01), ("ok", 0.015)}  # some refreshed this pass, not all
    for minute in range(2, 2 + CALM_REFRESH_PASSES):
        stored = run(T0 + timedelta(minutes=minute), [0.3] + [0.015] * 19)
    assert {v for k, v in stored.items() if k != "FAC00"} == {("ok", 0.015)}


def test_inhibition_follows_the_live_lineage_of_the_estate(engine, store_url) -> None:
    """With ``lineage_from_store`` the policy needs no hand-written edges: the configured
    billing source feeds every facility's metrics, so its outage suppresses their latency
    alerts, and the digest says why."""
    api = make_rule(id="api-error-rate", name="API error rate per source", metric="api_err",
                    scope={"by": ["source"]}, tags=["outage"], warn=5, fail=25)
    latency = make_rule(id="implant-latency", name="Implant charge latency", metric="lat",
                        scope={"by": ["facility"]}, tags=["latency"], warn=90, fail=120)
    rules = RuleSet((api, latency), (), {api.id: api, latency.id: latency})
    settings = load_settings(database_url=store_url, sources=[
        {"name": "billing", "kind": "fhir_billing", "base_url": "http://127.0.0.1:1/fhir"}])
    reader = TableReader({"api_err": [value("api_err", {"source": "billing"}, 60.0)],
                          "lat": [value("lat", {"facility": "FAC01"}, 300.0)]})
    live = POLICY.model_copy(update={"lineage_from_store": True})
    evaluate_and_notify(engine, settings, reader, T0, rules=rules, policy=live,
                        lineage=live_lineage)
    [mail] = [r for r in workflow.outbox_rows(engine, ("pending",))]
    with engine.connect() as conn:
        body = conn.execute(select(alert_outbox.c.body_text)
                            .where(alert_outbox.c.id == mail["id"])).scalar_one()
    assert "== Suppressed (upstream outage) (1) ==" in body
    assert "suppressed because API error rate per source is firing for source billing" in body
    # the same alerts without the live lineage: nothing links billing to FAC01
    with engine.connect() as conn:
        states = load_states(conn)
    assert list(inhibited(states, rules.by_id, live.with_lineage(
        cached_lineage(engine, settings, T0, live_lineage)))) == ["implant-latency|facility=FAC01"]
    assert inhibited(states, rules.by_id, POLICY) == {}
