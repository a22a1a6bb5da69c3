"""What the interface-engine API sources (kinds ``mirth``, ``rhapsody``) share: their
sign-in password and the facility of a channel group or locker.

The password follows the client-secret rule of ``collectors.http``:
``CHARGELINE_SECRET_<SOURCE>`` when set, else ``login.password``, where ``env:NAME``
reads the variable NAME. A group goes to a facility by ``facility_by_group`` (an exact
name, then the first matching glob in file order), else the source's ``facility_id``.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

from collectors.http import secret_variable
from core.config import SourceConfig
from core.errors import SourceError


def engine_credentials(source: SourceConfig) -> tuple[str, str]:
    """The source's API user name and password (``SourceError`` naming the variable when
    ``env:NAME`` is not set, or when the source has no ``login``)."""
    if source.login is None:
        raise SourceError(f"source {source.name}: kind {source.kind} needs login: {{username: "
                          f"..., password: env:NAME}} (or set {secret_variable(source.name)})")
    from_env = os.environ.get(secret_variable(source.name))
    if from_env:
        return source.login.username, from_env
    value = source.login.password.get_secret_value()
    if value.startswith("env:"):
        name = value[4:]
        if not os.environ.get(name):
            raise SourceError(f"source {source.name}: login password is env:{name} but {name} "
                              f"is not set — export it (or {secret_variable(source.name)})")
        return source.login.username, os.environ[name]
    return source.login.username, value


def facility_for_group(group: str, source: SourceConfig) -> str:
    """The facility of a channel group (Mirth) or locker (Rhapsody) named ``group``."""
    table = source.facility_by_group
    if group in table:
        return table[group]
    for pattern, facility in table.items():
        if fnmatchcase(group, pattern):
            return facility
    return source.facility_id
