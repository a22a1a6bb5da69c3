"""The ``api_calls`` log: one row per HTTP attempt of a pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from store.schema import api_calls


def write_api_calls(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert call-log rows (columns of ``api_calls``), in the caller's transaction."""
    if rows:
        conn.execute(insert(api_calls), list(rows))
