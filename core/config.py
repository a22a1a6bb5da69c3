"""Configuration: environment variables (``CHARGELINE_*``) over one YAML file.

The YAML file (``CHARGELINE_CONFIG``, default ``./chargeline.yaml`` when present) holds
sources, schedules, SLAs and SMTP; environment variables override it, nested keys with
``__`` (``CHARGELINE_SMTP__HOST``). Secrets come from the environment only in production.
A bad value raises ``ConfigError`` naming the key, the problem and an example fix.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError
from core.keys import deployment_secret
from core.payer_contracts import PayerContract, check_no_overlap

DEFAULT_DATABASE_URL = "sqlite:///./data/chargeline.db"

SourceKind = Literal["fhir_billing", "fhir_usage", "odata_erp", "hl7_log", "engine_stats",
                     "mllp", "mirth", "rhapsody", "x12_files"]
# Systems of ``metrics.lineage.graph.SYSTEMS`` a channel can deliver to (the engine, device
# tracking and the store are never a channel's destination); spelled out here because
# metrics imports this module, not the other way round.
ChannelTarget = Literal["billing", "erp", "ehr", "supplier", "other"]
CHANNEL_TARGETS: tuple[str, ...] = get_args(ChannelTarget)

FIXES: dict[str, str] = {
    "database_url": "CHARGELINE_DATABASE_URL=sqlite:///./data/chargeline.db or "
    "postgresql+psycopg://user@127.0.0.1:5432/chargeline",
    "schedule": "schedule: {interval_seconds: 60} or schedule: {cron: '*/5 * * * *'}",
    "base_url": "base_url: http://127.0.0.1:8700/billing/fhir",
    "port": "port: 587",
    "security": "security: starttls (or ssl, none)",
    "kind": "kind: fhir_billing (or fhir_usage, odata_erp, hl7_log, engine_stats, mllp, mirth, "
    "rhapsody, x12_files)",
    "login": "login: {username: chargeline, password: env:MIRTH_PASSWORD, method: session}",
    "listen": "listen: 127.0.0.1:2575 (the address and port an mllp source listens on)",
    "metrics_port": "metrics_port: 9464 (Prometheus scrapes http://<host>:9464/metrics)",
    "receivers": "receivers: [{name: oncall, type: webhook, url_env: ONCALL_URL, "
    "owners: [integration]}]",
    "channel_targets": "channel_targets: {FAC01_CHG_OUT: billing, '*_SUP_OUT': erp}",
    "retention": "retention: {raw_months: 13, batch_encounters: 2000, interval_seconds: 3600}",
    "raw_months": "raw_months: 13 (calendar months of canonical records kept, 1 to 1200)",
    "batch_encounters": "batch_encounters: 2000 (encounters aged out per transaction)",
    "quarantine_keys": "CHARGELINE_QUARANTINE_KEYS=<new key>,<old key>, each made by "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """When a source is polled: every ``interval_seconds`` or on a 5-field ``cron``."""

    interval_seconds: int | None = Field(default=None, ge=1)
    cron: str | None = None
    jitter_seconds: int = Field(default=0, ge=0)

    def model_post_init(self, __context: Any) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_seconds or cron")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron {self.cron!r} must have 5 fields (min hour day month dow)")


class OAuth2Client(_Strict):
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str = ""


class EngineLogin(_Strict):
    """Credentials of an interface engine's own API (kinds mirth, rhapsody). ``password``
    may be ``env:NAME``; ``CHARGELINE_SECRET_<SOURCE>`` overrides it. ``method``: ``session``
    signs in once a pass (Mirth's ``POST /api/users/_login``, a JSESSIONID cookie),
    ``basic`` sends HTTP basic credentials with every call (Rhapsody; Mirth accepts both)."""

    username: str = Field(min_length=1)
    password: SecretStr = SecretStr("")
    method: Literal["session", "basic"] = "session"


class SourceConfig(_Strict):
    """One polled system. ``base_url`` for HTTP sources, ``path`` for HL7 log folders."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    kind: SourceKind
    base_url: str = ""
    path: str = ""
    facility_id: str = ""
    oauth2: OAuth2Client | None = None
    schedule: Schedule = Schedule(interval_seconds=60)
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout_seconds: float = Field(default=10.0, gt=0)
    overlap_seconds: int = Field(default=900, ge=0)  # > the demo estate's 10-min late records
    max_retries: int = Field(default=4, ge=0)
    mapping: str = ""  # a YAML field-mapping file; empty means the standard defaults
    enabled: bool = True
    # kind mllp: the HOST:PORT it listens on, and the channel its messages are stored
    # under (default: the source's name); its schedule is how often a run row is closed
    listen: str = ""
    channel: str = Field(default="", max_length=64)
    # kinds mirth, rhapsody: the engine's API sign-in; TLS trust for its (often
    # self-signed) certificate: a PEM CA bundle, or verify_tls: false (not advised);
    # a channel group (Mirth) or locker (Rhapsody) name or glob -> facility id, else
    # facility_id; Mirth's answer format (xml is the API's default, json on request)
    login: EngineLogin | None = None
    ca_file: str = ""
    verify_tls: bool = True
    facility_by_group: dict[str, str] = {}
    api_format: Literal["xml", "json"] = "xml"
    # kind mirth: read each channel's errored messages through the message API, this
    # many a page (0: off): stored as ERROR messages, so Mirth's errored count drills
    # down to them; the first pass reads the newest page, later ones what came since
    errored_messages: int = Field(default=0, ge=0, le=1_000)
    # kind x12_files (``path``: a folder of 835 files): the payee of a remittance (N1*PE
    # N104, e.g. its NPI, or its N102 name) -> facility id; unmapped: facility_id, else
    # the payee's id as the file writes it
    facility_by_payee: dict[str, str] = {}
    # how often the source delivers new records by nature (a daily 835 drop: 1440): its
    # freshness counts the minutes beyond this, so a daily feed is not stale all day
    expected_every_minutes: int = Field(default=0, ge=0, le=60 * 24 * 31)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not value:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT")
        return value

    def model_post_init(self, __context: Any) -> None:
        if self.kind == "mllp" and not self.listen:
            raise ValueError("an mllp source needs listen: HOST:PORT")
        if self.kind == "x12_files" and not self.path:
            raise ValueError("an x12_files source needs path: the folder its 835 files arrive in")


class SmtpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "chargeline@localhost"
    timeout_seconds: float = Field(default=10.0, gt=0)
    ca_file: str = ""  # PEM file of a private CA to trust for TLS; empty = the system store


class ReceiverConfig(_Strict):
    """An on-call receiver beside e-mail (alerting/receivers.py): ``webhook`` posts the
    Prometheus Alertmanager webhook JSON (version 4), ``teams`` an Adaptive Card message,
    ``slack`` an incoming-webhook text message. It gets the digests of the rules whose
    ``owner`` is in ``owners`` (empty: every owner) and, if set, whose severity is in
    ``severity``. The URL is a secret (Slack and Teams URLs carry their token): give it in
    ``url`` or name the environment variable that holds it in ``url_env``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=60)
    type: Literal["webhook", "teams", "slack"]
    url: SecretStr = SecretStr("")
    url_env: str = ""
    owners: tuple[str, ...] = ()
    severity: tuple[Literal["info", "warning", "critical"], ...] = ()
    send_resolved: bool = True
    max_alerts: int = Field(default=0, ge=0)  # 0: no limit (Alertmanager's max_alerts)
    timeout_seconds: float = Field(default=10.0, gt=0)
    headers: dict[str, SecretStr] = {}  # e.g. {Authorization: "Bearer ..."}
    ca_file: str = ""  # PEM file of a private CA to trust for https; empty = the system store

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("the receiver URL must start with http:// or https://")
        return value

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        # Read when a row is sent, not here: a variable missing from one process (the
        # dashboard) must not stop it; the outbox row then says which variable is unset.
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def target(self) -> str:
        """The URL to post to (from ``url``, else from the ``url_env`` variable)."""
        return self.url.get_secret_value() or os.environ.get(self.url_env, "")

    @property
    def key(self) -> str:
        """How the outbox and the notification groups name it: ``webhook:pagerduty``."""
        return f"{self.type}:{self.name}"


class ChargeSla(_Strict):
    """How long after usage a charge or an inventory issue may post, per item class."""

    implant_charge_minutes: int = Field(default=120, ge=1)
    consumable_charge_minutes: int = Field(default=1440, ge=1)
    drug_charge_minutes: int = Field(default=1440, ge=1)
    inventory_issue_minutes: int = Field(default=240, ge=1)
    duplicate_window_days: int = Field(default=3, ge=0)
    # days after discharge before an unbilled encounter counts as DNFB (billing's hold)
    dnfb_hold_days: int = Field(default=4, ge=0)
    # days a payer may take to answer a claim before its missing remittance is a gap of
    # encounter reconciliation (Claim -> Payment)
    remit_days: int = Field(default=30, ge=0)


class RetentionPolicy(_Strict):
    """How long canonical records stay in the store (``metrics.compute.retention``).

    A usage's encounter is aged out, with its scans, messages, charges and inventory
    issues, once every one of them is older than ``raw_months`` whole months; the hourly
    and daily metric points, the exception queue and the audit stay. ``enabled`` runs it
    in the collector process every ``interval_seconds``, ``batch_encounters`` encounters a
    transaction."""

    raw_months: int = Field(default=13, ge=1, le=1200)
    enabled: bool = True
    interval_seconds: int = Field(default=3600, ge=60)
    batch_encounters: int = Field(default=2000, ge=1, le=100_000)


class QuietHours(_Strict):
    start: time
    end: time


class LineageConfig(_Strict):
    """OpenLineage export, and where interface-engine channels deliver in the system graph.

    ``channel_targets`` maps a channel id or an fnmatch glob (``*_SUP_OUT``) to the system
    it delivers to; an exact id wins, then the first matching glob in file order."""

    transport: Literal["none", "file", "http"] = "none"
    path: str = "./data/openlineage.ndjson"
    url: str = ""
    namespace: str = "chargeline"
    channel_targets: dict[str, ChannelTarget] = {}

    @field_validator("channel_targets", mode="before")
    @classmethod
    def _known_systems(cls, value: Any) -> Any:
        # Checked here rather than left to the Literal so that one line names every bad key
        # and the allowed systems, under the setting's own name (a dict key is no env var).
        if not isinstance(value, dict):
            return value
        empty = [k for k in value if not isinstance(k, str) or not k.strip()]
        if empty:
            raise ValueError("a channel id or glob must not be empty")
        bad = [f"{k!r}: {v!r}" for k, v in value.items() if v not in CHANNEL_TARGETS]
        if bad:
            raise ValueError(f"unknown system for {', '.join(bad)}; a channel delivers to "
                             f"one of {', '.join(CHANNEL_TARGETS)}")
        return value


def _names_unique(what: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")


class Settings(BaseSettings):
    """Every setting Chargeline reads. See README "Configuration" for the full table."""

    model_config = SettingsConfigDict(
        env_prefix="CHARGELINE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    # The deployment secret behind patient tokens and session keys; unset, one generated
    # into data_dir is used (core/keys.py), never the public demo value.
    phi_secret: SecretStr | None = None
    # Fernet keys of quarantined payloads, the first encrypts, all decrypt (rotation);
    # none: one derived from phi_secret (core/sealing.py). The environment gives
    # them comma-separated, so pydantic-settings must not read the value as JSON.
    quarantine_keys: Annotated[list[SecretStr], NoDecode] = []
    dashboard_url: str = "http://127.0.0.1:8501"
    data_dir: Path = Path("./data")
    sources: list[SourceConfig] = []
    sla: ChargeSla = ChargeSla()
    retention: RetentionPolicy = RetentionPolicy()
    smtp: SmtpConfig = SmtpConfig()
    lineage: LineageConfig = LineageConfig()
    receivers: list[ReceiverConfig] = []
    collector_id: str = ""
    lease_seconds: int = Field(default=120, ge=5)
    # Prometheus /metrics served by ``chargeline collector`` (metrics/read/prometheus.py): off
    # unless a port is set; the KPI gauges cover the last metrics_window_hours
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_window_hours: int = Field(default=24, ge=1)
    # payers' contract terms (core.payer_contracts): what each remittance line should have
    # paid, for the underpayment metrics; payers without one are not judged
    payer_contracts: list[PayerContract] = []

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use sqlite or postgresql+psycopg"
            )
        return value

    @field_validator("quarantine_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("quarantine_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        # the key itself is never echoed: the message names its place in the list only
        bad = [str(i) for i, key in enumerate(value, 1)
               if not is_fernet_key(key.get_secret_value())]
        if bad:
            raise ValueError(f"key {', '.join(bad)} of {len(value)} is not a Fernet key "
                             "(32 bytes in url-safe base64)")
        return value

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        _names_unique("source", [s.name for s in value])
        return value

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: list[ReceiverConfig]) -> list[ReceiverConfig]:
        _names_unique("receiver", [r.name for r in value])
        missing = [r.name for r in value if not r.url.get_secret_value() and not r.url_env]
        if missing:
            raise ValueError(f"receiver {missing[0]!r} needs url or url_env")
        return value

    @field_validator("payer_contracts")
    @classmethod
    def _contracts_apart(cls, value: list[PayerContract]) -> list[PayerContract]:
        check_no_overlap(value)
        return value

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"unknown source {name!r}; configured sources: {known}")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """The config file, read once; its syntax errors name the file and line."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.data = read_config_file(config_file_path())

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def is_fernet_key(key: str) -> bool:
    """True when ``key`` is a Fernet key: 32 bytes in url-safe base64."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        return False


def config_file_path() -> Path | None:
    explicit = os.environ.get("CHARGELINE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"CHARGELINE_CONFIG: file {path} does not exist — "
                "point it at a YAML file, e.g. CHARGELINE_CONFIG=./chargeline.yaml"
            )
        return path
    default = Path("chargeline.yaml")
    return default if default.is_file() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: YAML syntax error: {exc.problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def _fix_for(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str) and part in FIXES:
            return f" — e.g. {FIXES[part]}"
    return ""


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(settings)"
        env = "CHARGELINE_" + "__".join(str(p).upper() for p in loc if isinstance(p, str))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"config {key} ({env}): {msg}{_fix_for(loc)}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, or raise ``ConfigError`` with one line per bad key. With no
    ``phi_secret`` configured, the one of the data directory is filled in (generated on
    the first run; ``core.keys``), so no reader of the settings sees none; when
    that file cannot be written, it stays unset and the commands that need a key say
    why (``core.keys.deployment_secret``)."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    try:
        secret = deployment_secret(settings)
    except ConfigError:
        return settings  # e.g. a read-only data_dir: only commands that need a key fail
    if settings.phi_secret is None or settings.phi_secret.get_secret_value() != secret:
        settings = settings.model_copy(update={"phi_secret": SecretStr(secret)})
    return settings
