"""The last line of defence of every converter: a record that raised what no check
foresaw becomes that record's reject, never the end of its page, file or source.

Each converter checks what it knows (``RecordError`` with a precise reason); hostile input
will find what it does not. Catching ``Exception`` per record keeps one such record from
failing the transaction of a whole page — and with it every later pass over the same log
— while the reason and the log line (with the traceback) say it is a gap to close. The
fuzz tests (``tests/collectors/test_hostile_input.py``) fail on any such reason.
"""

from __future__ import annotations

import logging
import traceback

log = logging.getLogger("chargeline.collectors")

UNEXPECTED = "could not be read"


def unexpected_reason(exc: BaseException, where: str) -> str:
    """The quarantine reason of an unforeseen failure (its type and the code line, never
    its message, which may quote the payload), logged with its traceback."""
    log.error("record at %s: unexpected %s", where, type(exc).__name__,
              exc_info=(type(exc), exc, exc.__traceback__))
    frames = traceback.extract_tb(exc.__traceback__)
    line = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return (f"{UNEXPECTED}: {type(exc).__name__}{line} — a check Chargeline lacks; report "
            "this reason (the payload is kept here)")
