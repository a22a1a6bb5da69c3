"""Chargeline's exception tree. The CLI maps it to exit codes, the UI to ``st.error``
and the scheduler to a failed collector run.

    ChargelineError                 exit 1
    ├── ConfigError                 exit 2   a setting, config file or URL is wrong
    ├── StoreError                  exit 3   the database cannot be reached or migrated
    ├── SourceError                 exit 4   a source system failed (HTTP, file, protocol)
    │   └── SourceUnavailable                transient: retry later, circuit may open
    ├── RecordError                          one record is bad; it is quarantined, not raised
    └── RuleFileError               exit 5   a rule file is refused whole
"""

from __future__ import annotations


class ChargelineError(Exception):
    """Base of every error Chargeline raises on purpose."""

    exit_code = 1


class ConfigError(ChargelineError):
    """A configuration value is wrong. The message names the key and the fix."""

    exit_code = 2


class StoreError(ChargelineError):
    """The store cannot be reached, created or migrated."""

    exit_code = 3


class SourceError(ChargelineError):
    """A source system answered wrongly or not at all."""

    exit_code = 4


class SourceUnavailable(SourceError):
    """A transient source failure (5xx, timeout, connection refused, 429)."""


class RecordError(ChargelineError):
    """One source record cannot be turned into a canonical record."""

    def __init__(self, reason: str, *, source: str = "", position: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.source = source
        self.position = position


class RuleFileError(ChargelineError):
    """A rule file is invalid; ``problems`` holds every ``file:line: ...`` message."""

    exit_code = 5

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
