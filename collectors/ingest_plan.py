"""How a file backfill reads: under which source name, which kinds, which field mappings.

``chargeline ingest`` must read files the way polling reads the same system, or an
estate whose fields are named differently could only be loaded over HTTP. A plan comes
from a configured source (``--source NAME``: its name, its kind and its ``mapping:``
file) and/or one-off ``--mapping KIND=FILE`` options, and every mapping file is compiled
before the first file is read, so a bad one stops the backfill with nothing written.
``collectors.mapping.load_mapping`` stays the one way a mapping is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.mapping import RecordMapping, load_mapping
from core.config import Settings
from core.errors import ConfigError

# the source kinds whose payloads can come as files (engine_stats is a live counter API)
INGEST_KINDS = ("fhir_billing", "fhir_usage", "odata_erp", "hl7_log", "x12_files")
# the kinds read through a field mapping (X12 files follow their implementation guide)
MAPPED_KINDS = ("fhir_billing", "fhir_usage", "odata_erp", "hl7_log")
FHIR_KINDS = ("fhir_billing", "fhir_usage")
DEFAULT_SOURCE_NAME = "backfill"


@dataclass(frozen=True)
class IngestPlan:
    """What a backfill reads and how. ``source_kind`` empty means every kind (no
    ``--source``), each with its default mapping unless ``mapping_files`` names one."""

    source_name: str = DEFAULT_SOURCE_NAME
    source_kind: str = ""
    mapping_files: tuple[tuple[str, str], ...] = ()  # (kind, file), at most one per kind

    def mapping_file(self, kind: str) -> str:
        return dict(self.mapping_files).get(kind, "")

    def reads(self, kind: str) -> bool:
        """Whether files of this source kind belong to the backfill."""
        return not self.source_kind or kind == self.source_kind

    def mappings(self, kind: str) -> dict[str, RecordMapping]:
        """The kind's compiled mappings, the plan's file merged over the defaults."""
        return load_mapping(kind, self.mapping_file(kind))

    def fhir_mappings(self) -> dict[str, RecordMapping]:
        """FHIR resource type -> mapping, over the FHIR kinds this plan reads."""
        out: dict[str, RecordMapping] = {}
        for kind in FHIR_KINDS:
            if self.reads(kind):
                out.update(self.mappings(kind))
        return out

    def describe(self) -> str:
        """One line for the operator: the source name, the kinds and the mapping files."""
        kinds = self.source_kind or "any kind"
        files = ", ".join(f"{k}={f}" for k, f in self.mapping_files) or "default mappings"
        return f"source {self.source_name} ({kinds}; {files})"


def parse_mapping_option(text: str) -> tuple[str, str]:
    """``KIND=FILE`` -> (kind, file); refuse other shapes and kinds, naming the forms."""
    kind, sep, file = text.partition("=")
    kind, file = kind.strip(), file.strip()
    if not sep or not file:
        raise ConfigError(f"--mapping {text!r}: write KIND=FILE, e.g. "
                          "--mapping odata_erp=/etc/chargeline/erp-mapping.yaml")
    if kind not in MAPPED_KINDS:
        raise ConfigError(f"--mapping {text!r}: kind {kind!r} cannot be ingested with a field "
                          f"mapping; use one of {', '.join(MAPPED_KINDS)}")
    return kind, file


def _compile(kind: str, file: str, flag: str) -> None:
    """Compile one mapping file now; its errors name the flag or setting it came from."""
    if not Path(file).is_file():
        raise ConfigError(f"{flag}: mapping file {file} does not exist — give the path of "
                          "a YAML field-mapping file (collectors/README.md, Field mappings)")
    try:
        load_mapping(kind, file)
    except ConfigError as exc:
        # YAML errors already name file:line; a bad field spec names only its section
        where = "" if file in str(exc) else f" mapping file {file}:"
        raise ConfigError(f"{flag}:{where} {exc}") from None


def plan_ingest(settings: Settings, source: str | None = None,
                mapping_options: Sequence[str] = ()) -> IngestPlan:
    """The plan for ``--source`` and ``--mapping`` options, every mapping file compiled.

    A ``--mapping`` of the source's kind is a one-off in place of its ``mapping:``; one of
    another kind is refused (a source's backfill reads only its own kind)."""
    files: dict[str, tuple[str, str]] = {}  # kind -> (file, where it came from)
    name, kind = DEFAULT_SOURCE_NAME, ""
    if source:
        configured = {s.name: s for s in settings.sources}
        if source not in configured:
            known = ", ".join(sorted(configured)) or "none configured"
            raise ConfigError(
                f"--source {source!r} is not a configured source (configured: {known}) — "
                "add it under sources: in the config file, or leave --source out to ingest "
                f"as {DEFAULT_SOURCE_NAME!r} with --mapping KIND=FILE")
        src = configured[source]
        if src.kind not in INGEST_KINDS:
            raise ConfigError(f"--source {source}: a {src.kind} source cannot be ingested "
                              f"from files; files come from {', '.join(INGEST_KINDS)} sources")
        name, kind = src.name, src.kind
        if src.mapping:
            files[kind] = (src.mapping, f"source {source} mapping:")
    seen: set[str] = set()
    for option in mapping_options:
        option_kind, file = parse_mapping_option(option)
        if option_kind in seen:
            raise ConfigError(f"--mapping {option_kind}= is given twice; give one file a kind")
        seen.add(option_kind)
        if kind and option_kind != kind:
            raise ConfigError(f"--mapping {option}: source {name} is {kind}, so its backfill "
                              f"reads only {kind} files; give --mapping {kind}=FILE, or "
                              "leave --source out")
        files[option_kind] = (file, f"--mapping {option}")
    for option_kind, (file, flag) in files.items():
        _compile(option_kind, file, flag)
    return IngestPlan(name, kind, tuple(sorted((k, f) for k, (f, _) in files.items())))
