"""NextGen Connect (Mirth) as a source (kind ``mirth``): one snapshot of every deployed
channel's counters a pass, named and grouped as the Administrator shows them.

``base_url`` is the API root (``https://mirth.example.org:8443/api``). A pass signs in
(``POST /users/_login``, form username and password; the JSESSIONID cookie carries the
session; ``login.method: basic`` sends basic credentials instead), reads
``/channels/statuses`` (states, connector queues), ``/channels/idsAndNames``,
``/channelgroups`` (facilities; skipped with a warning when the user may not view groups)
and ``/channels/statistics``; with ``errored_messages`` set, the errored messages of each
channel Mirth counts errors in (``/channels/{id}/messages?status=ERROR``); then it signs
out. Every call carries ``X-Requested-With``, which the API requires (HTTP 400 without
it). Parsing: ``collectors.mirth_records``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx

from collectors.base import CollectContext, Reject
from collectors.engine_access import engine_credentials, facility_for_group
from collectors.hl7_records import Hl7Converter
from collectors.http import HttpRefused, SourceHttp
from collectors.incremental import format_instant
from collectors.mirth_records import (
    channel_stats,
    errored_records,
    parse_channel_groups,
    parse_channel_names,
    parse_login,
    parse_messages,
    parse_statistics,
    parse_statuses,
    read_document,
    state_notes,
)
from collectors.plugins.hl7_log import channel_name
from collectors.registry import register
from collectors.rejects import unexpected_reason
from core.errors import RecordError, SourceError

log = logging.getLogger("chargeline.collectors.mirth")
REQUESTED_WITH = "Chargeline"
SIGNED_IN = ("SUCCESS", "SUCCESS_GRACE_PERIOD")
MAX_ERROR_PAGES = 10  # errored-message pages of one channel a pass
T = TypeVar("T")


class MirthApi:
    """The calls of one pass: sign-in, GETs with the headers the API wants, sign-out."""

    def __init__(self, http: SourceHttp, ctx: CollectContext) -> None:
        source = ctx.source
        self.http, self.source, self.base = http, source, source.base_url
        self.user, self.password = engine_credentials(source)
        self.basic = source.login is not None and source.login.method == "basic"
        self.headers = {"X-Requested-With": REQUESTED_WITH,
                        "Accept": f"application/{source.api_format}"}

    def _auth(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.basic else None

    def sign_in(self) -> None:
        """Open a session (nothing to do with basic credentials)."""
        if self.basic:
            return
        url = f"{self.base}/users/_login"
        try:
            response = self.http.send("POST", url, headers=self.headers,
                                      data={"username": self.user, "password": self.password})
        except HttpRefused as exc:
            if exc.status in (401, 403):
                raise SourceError(f"{url}: the server refused user {self.user!r} (HTTP "
                                  f"{exc.status}) — check the source's login username and "
                                  "password") from None
            raise SourceError(f"{exc} — check the source's base_url (the API root, e.g. "
                              "https://mirth.example.org:8443/api)") from None
        try:
            status, message = parse_login(read_document(response.content, url))
        except RecordError:
            status, message = "", ""  # a 200 without a LoginStatus: the cookie decides
        if status and status not in SIGNED_IN:
            raise SourceError(f"{url}: sign-in {status} {message}".rstrip())

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[bytes, str]:
        """GET ``path`` under the API root: its bytes and URL; a session that expired
        mid-pass is opened again once."""
        url = f"{self.base}{path}"
        for attempt in (1, 2):
            try:
                response = self.http.send("GET", url, headers=self.headers, auth=self._auth(),
                                          params=params)
            except HttpRefused as exc:
                if exc.status == 401 and attempt == 1 and not self.basic:
                    self.sign_in()
                    continue
                if exc.status in (401, 403):
                    raise SourceError(f"GET {url}: HTTP {exc.status} — the user "
                                      f"{self.user!r} may not read this; check its role "
                                      "and the source's login") from None
                raise SourceError(f"{exc} — check the source's base_url (the API root, "
                                  "e.g. https://mirth.example.org:8443/api)") from None
            return response.content, url
        raise AssertionError("unreachable")

    def sign_out(self) -> None:
        """End the session (best effort: it times out on its own)."""
        if self.basic:
            return
        try:
            self.http.send("POST", f"{self.base}/users/_logout", headers=self.headers)
        except (SourceError, httpx.HTTPError) as exc:
            log.info("source %s: sign-out failed (%s); the session will time out",
                     self.source.name, exc)


@register
class MirthCollector:
    kind: ClassVar[str] = "mirth"

    def poll(self, ctx: CollectContext) -> None:
        api = MirthApi(ctx.http, ctx)
        api.sign_in()
        try:
            self._snapshot(ctx, api)
        finally:
            api.sign_out()

    def _snapshot(self, ctx: CollectContext, api: MirthApi) -> None:
        statuses = _read(ctx, api, "/channels/statuses", parse_statuses)
        names = _read(ctx, api, "/channels/idsAndNames", parse_channel_names)
        try:
            groups = _read(ctx, api, "/channelgroups", parse_channel_groups)
        except SourceError as exc:  # a user without 'view channel groups'
            log.warning("source %s: channel groups not read (%s); facilities come from "
                        "facility_id", ctx.source.name, exc)
            groups = {}
        observed = datetime.now(UTC)
        counters, bad = _read(ctx, api, "/channels/statistics", parse_statistics)
        records, rejects = channel_stats(
            counters, statuses, names, groups, observed,
            lambda group: facility_for_group(group, ctx.source),
            f"{ctx.source.base_url}/channels/statistics")
        for note in state_notes(statuses):
            log.info("source %s: %s", ctx.source.name, note)
        ctx.http.set_rows(len(records))  # the statistics call, the last one made
        ctx.commit_page("channels", records, format_instant(observed), [*bad, *rejects],
                        newest=observed)
        if ctx.source.errored_messages:
            for c in counters:
                if c.errored:
                    status = statuses.get(c.channel_id)
                    name = names.get(c.channel_id) or (status.name if status else "") or \
                        c.channel_id
                    facility = facility_for_group(groups.get(c.channel_id, ""), ctx.source)
                    try:
                        _errored_messages(ctx, api, c.channel_id, name, facility)
                    except SourceError as exc:  # the snapshot stays; the run ends in error
                        ctx.totals.stream_errors.append(
                            f"errored messages of {name}: SourceError: {exc}")


def _errored_messages(ctx: CollectContext, api: MirthApi, channel_id: str, name: str,
                      facility: str) -> None:
    """Read one channel's errored messages newer than its cursor (the message API gives
    the newest first, so pages walk down from there), store them, then move the cursor
    to the newest; the first pass reads only the newest page."""
    stream = f"errors:{channel_id}"[:64]  # the cursor table's width (ids are UUIDs)
    cursor = ctx.watermark(stream)
    after = int(cursor) if cursor and cursor.isdigit() else None
    limit = ctx.source.errored_messages
    converter = Hl7Converter(ctx.mappings("hl7_log"), channel_name(name), ctx.phi_secret,
                             ctx.source.name)
    path = f"/channels/{quote(channel_id, safe='')}/messages"
    params: dict[str, Any] = {"status": "ERROR", "includeContent": "true", "limit": limit}
    if after is not None:
        params["minMessageId"] = after + 1
    newest = after
    for _page in range(MAX_ERROR_PAGES):
        messages = _read(ctx, api, path, parse_messages, params=params, stream=stream)
        records, rejects = errored_records(messages, converter, facility,
                                           f"{ctx.source.base_url}{path}")
        ctx.commit_page(stream, records, None, rejects)
        ids = [m.message_id for m in messages]
        if ids:
            newest = max(ids) if newest is None else max(newest, *ids)
        if after is None or len(messages) < limit or not ids:
            break
        params = {**params, "maxMessageId": min(ids) - 1}
    else:
        log.warning("source %s: channel %s has more than %d errored messages since the last "
                    "pass; the older ones were not read", ctx.source.name, name,
                    MAX_ERROR_PAGES * limit)
    if newest is not None and newest != after:
        ctx.commit_page(stream, [], str(newest))


def _read(ctx: CollectContext, api: MirthApi, path: str, parse: Callable[[Any, str], T],
          params: dict[str, Any] | None = None, stream: str = "channels") -> T:
    """Fetch and parse one answer; one that cannot be read is quarantined whole and
    fails the pass (``SourceError``)."""
    raw, url = api.get(path, params)
    try:
        return parse(read_document(raw, url), url)
    except RecordError as exc:
        reason = exc.reason
    except Exception as exc:  # an answer of a shape no one foresaw (collectors.rejects)
        reason = unexpected_reason(exc, url)
    kind = "channel_stats" if stream == "channels" else "interface_message"
    ctx.commit_page(stream, [], None, [Reject(url, reason, raw, kind)])
    raise SourceError(reason)
