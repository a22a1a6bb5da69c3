"""Imports every module that defines tables, so ``metadata`` is complete for Alembic."""

import store.schema  # noqa: F401
