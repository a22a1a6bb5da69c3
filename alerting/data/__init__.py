"""Alerting's data room: every SQL statement of the ``alerting`` package, as named
functions over an open ``Connection`` (the caller owns the transaction, so alert state,
history, group logs and outbox rows commit together).

    passes         the evaluation log and the alerting lock (``alert_evaluations``)
    instances      alert state and steward workflow columns (``alert_instances``)
    history        state changes, steward actions, incident starts
    silences       silences (``alert_silences``)
    groups         notification group logs (``notification_groups``)
    rule_versions  rule file versions and the set in force (``rule_file_versions``)
    outbox         the outbox queue: enqueue, claim, mark sent, back off (``alert_outbox``)
    bulk           the hot instance write and read at driver level

May import: ``core``, ``store`` (schema, upsert), ``rules`` and the pure modules of
``alerting`` (state, digest, policy, receivers), never the modules that call it (service,
workflow, outbox, cli). Outside ``alerting`` only tests import it.
"""
