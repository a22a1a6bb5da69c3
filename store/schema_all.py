"""Imports every module that defines tables, so ``metadata`` is complete for Alembic."""

import store.schema
import store.schema_alerting
import store.schema_app
import store.schema_collectors
import store.schema_metrics  # noqa: F401
