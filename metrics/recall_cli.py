"""``chargeline recall``: every usage of one lot, serial, device (UDI-DI) or item, for a
manufacturer's recall; mounted on the metrics room's ``cli`` (metrics/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.config import load_settings
from core.errors import ConfigError
from metrics.read.recall import COLUMNS, Recall, as_table, choose_selector, recall, to_csv
from store.migrate import open_store

cli = typer.Typer()

# the terminal shows these; the CSV has every column
_SHOWN = ("usage_id", "facility_id", "encounter_id", "used_on", "patient_token", "item_ref",
          "lot", "serial", "expires_on", "expired", "charge_status", "inventory_status")


@cli.command("recall")
def recall_cmd(
    lot: Annotated[str, typer.Option("--lot", help="Every usage of this lot (GS1 (10)).")] = "",
    serial: Annotated[str, typer.Option("--serial", help="The usage(s) of this serial "
                                                         "(GS1 (21)).")] = "",
    udi_di: Annotated[str, typer.Option("--udi-di", help="Every usage of this device "
                                                         "identifier (GS1 (01) GTIN).")] = "",
    item: Annotated[str, typer.Option("--item", help="Every usage of this item id or "
                                                     "scanned reference.")] = "",
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="Also write every row, all columns, to this CSV file.")] = None,
) -> None:
    """Every usage of one lot, serial, UDI-DI or item: facility, encounter, date, patient
    token, charge and inventory status, and the devices used after their expiry."""
    choose_selector(lot=lot, serial=serial, udi_di=udi_di, item=item)  # before the store
    settings = load_settings()
    engine = open_store(settings.database_url)
    try:
        found = recall(engine, lot=lot, serial=serial, udi_di=udi_di, item=item)
    finally:
        engine.dispose()
    if csv_file is not None:
        try:
            csv_file.write_text(to_csv(found.rows), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--csv {csv_file}: {exc.strerror} — name a writable "
                              "file") from None
    typer.echo(summary(found))
    if found.rows:
        echo_table(found)
    if csv_file is not None:
        typer.echo(f"{len(found.rows)} rows written to {csv_file}")


def summary(found: Recall) -> str:
    """One line: how many usages, where, and how many used after expiry."""
    facilities = sorted({row.facility_id for row in found.rows})
    return (f"{found.selector} {found.value}: {len(found.rows)} usages"
            + (f" at {', '.join(facilities)}" if facilities else "")
            + f"; used after expiry: {found.expired}")


def echo_table(found: Recall) -> None:
    """The shown columns, aligned."""
    index = [COLUMNS.index(name) for name in _SHOWN]
    cells = [[row[i] for i in index] for row in as_table(found.rows)]
    widths = [max(len(name), *(len(c[n]) for c in cells)) for n, name in enumerate(_SHOWN)]
    typer.echo("  ".join(name.ljust(w) for name, w in zip(_SHOWN, widths, strict=True)))
    for c in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
