"""Imports every module that defines tables, so ``metadata`` is complete for Alembic."""

import store.schema  # noqa: F401
import store.schema_app  # noqa: F401
import store.schema_metrics  # noqa: F401
import store.schema_collectors  # noqa: F401
import store.schema_alerting  # noqa: F401
