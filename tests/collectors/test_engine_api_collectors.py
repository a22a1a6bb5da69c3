"""The engine API sources on a real store (SQLite and PostgreSQL): kind mirth over HTTP
against the demo estate's Mirth-shaped API (session and basic sign-in, XML and JSON,
facilities by channel group), kind rhapsody against its recorded answers; refusals said
with what to check."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from app.data.records import count_records
from app.shaping.drill import DrillFilters
from collectors.base import tls_verify
from collectors.runner import run_source
from core.config import EngineLogin, Settings, SourceConfig
from core.errors import ConfigError
from core.model import RunStatus
from simulator.engine_stats import channels_payload
from store.schema import api_calls, channel_stats, interface_messages, quarantined_records
from tests.estate import RunningEstate

RHAPSODY = Path(__file__).parents[1] / "data" / "engines" / "rhapsody"


def run(engine: Engine, source: SourceConfig, transport: httpx.BaseTransport | None = None
        ) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, transport=transport, sleep=lambda s: None)


def mirth(running: RunningEstate, **kw: Any) -> SourceConfig:
    kw.setdefault("login", EngineLogin(username="admin", password="admin"))
    return SourceConfig(name="mirth", kind="mirth", base_url=f"{running.base_url}/mirth/api",
                        facility_by_group={"FAC01": "FAC01", "FAC0*": "FAC02"}, max_retries=0,
                        **kw)


def stored(engine: Engine) -> dict[tuple[str, str], tuple[int, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(channel_stats)).all()
    return {(r.facility_id, r.channel): (r.received, r.filtered, r.queued, r.sent, r.errored)
            for r in rows}


def expected(running: RunningEstate) -> dict[tuple[str, str], tuple[int, ...]]:
    snapshot = channels_payload(running.server.timelines, running.server.now())
    return {(c["facilityId"], c["channelId"]): tuple(c["statistics"][k] for k in (
        "received", "filtered", "queued", "sent", "errored")) for c in snapshot["channels"]}


@pytest.mark.parametrize(("api_format", "method"), [("xml", "session"), ("json", "basic")])
def test_mirth_reads_the_estates_engine(engine: Engine, estate_factory: Any, api_format: str,
                                        method: str) -> None:
    running = estate_factory(facilities=2)
    source = mirth(running, api_format=api_format,
                   login=EngineLogin(username="admin", password="admin", method=method))
    result = run(engine, source)
    assert result.status is RunStatus.OK, result.error
    want = expected(running)
    assert stored(engine) == want and {f for f, _ in want} == {"FAC01", "FAC02"}
    with engine.connect() as conn:
        endpoints = [r.endpoint for r in conn.execute(
            select(api_calls).order_by(api_calls.c.call_id))]
    calls = ["/mirth/api/channels/statuses", "/mirth/api/channels/idsAndNames",
             "/mirth/api/channelgroups", "/mirth/api/channels/statistics"]
    if method == "session":
        calls = ["/mirth/api/users/_login", *calls, "/mirth/api/users/_logout"]
    assert endpoints == calls


@pytest.mark.parametrize("api_format", ["xml", "json"])
def test_mirth_stores_each_channels_state_over_http(engine: Engine, estate_factory: Any,
                                                    api_format: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The estate's engine with one channel stopped and one paused (as Mirth names them in
    /channels/statuses): each snapshot stores its state and its destination waiting."""
    running = estate_factory(facilities=2)
    timelines = {t.channel_id: t for t in running.server.timelines}
    monkeypatch.setattr(timelines["FAC01_CHG_OUT"], "state", "STOPPED")
    monkeypatch.setattr(timelines["FAC02_ADT_IN"], "state", "PAUSED")
    result = run(engine, mirth(running, api_format=api_format))
    assert result.status is RunStatus.OK, result.error
    with engine.connect() as conn:
        rows = {(r.facility_id, r.channel): (r.state, r.waiting_connectors, r.queued)
                for r in conn.execute(select(channel_stats))}
    assert set(rows) == set(expected(running))
    states = {key: state for key, (state, _, _) in rows.items()}
    assert states.pop(("FAC01", "FAC01_CHG_OUT")) == "stopped"
    assert states.pop(("FAC02", "FAC02_ADT_IN")) == "paused"
    assert set(states.values()) == {"started"}
    # the estate's one destination connector per channel waits while its queue holds any
    assert all(waiting == (1 if queued else 0) for _, waiting, queued in rows.values())


def test_engine_stats_says_no_state(engine: Engine, estate_factory: Any) -> None:
    """The estate's own statistics API (kind engine_stats, default mapping) does not map
    a state: its snapshots store '' (not said), never a guess."""
    running = estate_factory(facilities=1)
    source = SourceConfig(name="engine", kind="engine_stats", max_retries=0,
                          base_url=f"{running.base_url}/engine/api")
    assert run(engine, source).status is RunStatus.OK
    with engine.connect() as conn:
        got = {(r.state, r.waiting_connectors) for r in conn.execute(select(channel_stats))}
    assert got == {("", 0)}


def test_mirth_wrong_password_says_what_to_check(engine: Engine, estate_factory: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    running = estate_factory(facilities=2)
    monkeypatch.setenv("MIRTH_PASSWORD", "wrong")
    result = run(engine, mirth(running, login=EngineLogin(username="admin",
                                                          password="env:MIRTH_PASSWORD")))
    assert result.status is RunStatus.ERROR
    assert "refused user 'admin' (HTTP 401)" in result.error and "password" in result.error
    monkeypatch.setenv("CHARGELINE_SECRET_MIRTH", "admin")  # wins over the file
    assert run(engine, mirth(running, login=EngineLogin(
        username="admin", password="env:MIRTH_PASSWORD"))).status is RunStatus.OK


def test_mirth_without_login_is_a_config_problem(engine: Engine, estate_factory: Any) -> None:
    result = run(engine, mirth(estate_factory(facilities=2), login=None))
    assert result.status is RunStatus.ERROR and "needs login:" in result.error


def test_the_estates_mirth_api_behaves_as_mirth(estate_factory: Any) -> None:
    base = f"{estate_factory(facilities=2).base_url}/mirth/api"
    with httpx.Client() as client:
        assert client.get(f"{base}/channels/statistics").status_code == 400  # X-Requested-With
        asked = {"X-Requested-With": "test"}
        assert client.get(f"{base}/channels/statistics", headers=asked).status_code == 401
        login = client.post(f"{base}/users/_login", headers=asked,
                            data={"username": "admin", "password": "admin"})
        assert login.status_code == 200 and "JSESSIONID" in client.cookies
        xml = client.get(f"{base}/channels/statistics", headers=asked)
        assert xml.headers["content-type"].startswith("application/xml")
        assert xml.text.startswith("<list><channelStatistics><serverId>")
        body = client.get(f"{base}/channels/statistics",
                          headers={**asked, "Accept": "application/json"}).json()
        assert isinstance(body["list"]["channelStatistics"], list)


# --- Rhapsody ---------------------------------------------------------------------------

def rhapsody_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != "Basic " + base64.b64encode(
                b"monitor:secret").decode():
            return httpx.Response(401)
        path = request.url.path.removeprefix("/api/")
        name = ("components_status.json" if path == "components/status"
                else f"commpoint_{path.rsplit('/', 1)[-1]}.json")
        return httpx.Response(200, json=json.loads((RHAPSODY / name).read_text()))
    return httpx.MockTransport(answer)


def rhapsody(password: str = "secret") -> SourceConfig:
    return SourceConfig(name="rhapsody", kind="rhapsody", base_url="https://rh.example:8444/api",
                        login=EngineLogin(username="monitor", password=password,
                                          method="basic"), max_retries=0,
                        facility_by_group={"North Campus": "FAC01", "South Campus": "FAC02"})


def test_rhapsody_reads_communication_points(engine: Engine) -> None:
    seen: list[httpx.Request] = []
    result = run(engine, rhapsody(), rhapsody_transport(seen))
    assert result.status is RunStatus.OK, result.error
    assert stored(engine) == {("FAC01", "DFT_OUT"): (0, 0, 12, 2630, 75),
                              ("FAC01", "ADT_IN"): (5120, 0, 4, 0, 0),
                              ("FAC02", "DFT_OUT"): (0, 0, 40, 910, 1)}
    with engine.connect() as conn:
        states = {(r.facility_id, r.channel): (r.state, r.waiting_connectors)
                  for r in conn.execute(select(channel_stats))}
    assert states == {("FAC01", "DFT_OUT"): ("started", 1), ("FAC01", "ADT_IN"): ("stopped", 1),
                      ("FAC02", "DFT_OUT"): ("started", 1)}
    assert [r.url.path for r in seen] == ["/api/components/status", "/api/commpoint/103",
                                          "/api/commpoint/101", "/api/commpoint/201"]
    assert {r.headers["accept"] for r in seen} == {"application/json"}


def test_rhapsody_refusal_names_the_login(engine: Engine) -> None:
    result = run(engine, rhapsody("wrong"), rhapsody_transport([]))
    assert result.status is RunStatus.ERROR
    assert "HTTP 401" in result.error and "login" in result.error


# --- TLS ----------------------------------------------------------------------------------

def test_tls_trust_per_source(tmp_path: Path) -> None:
    assert tls_verify(rhapsody()) is True
    assert tls_verify(rhapsody().model_copy(update={"verify_tls": False})) is False
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"ca_file .* cannot be read as PEM"):
        tls_verify(rhapsody().model_copy(update={"ca_file": str(bad)}))


# --- Mirth's message API: the errored messages behind its errored count --------------------

MIRTH = Path(__file__).parents[1] / "data" / "engines" / "mirth"
DFT_OUT = "0b5e8a52-3c3d-4c8e-9f0e-1a2b3c4d5e01"


class RecordedMirth:
    """Mirth's API from the recorded answers, with the message search as Mirth runs it:
    the channel's messages with minMessageId <= id <= maxMessageId, newest first, at most
    ``limit`` (``DonkeyMessageController.searchMessages``)."""

    def __init__(self, refuse: str = "") -> None:
        self.seen: list[httpx.Request] = []
        self.refuse = refuse  # a channel whose messages the user may not view (403)
        root = ET.fromstring((MIRTH / "messages_error.xml").read_bytes())
        self.messages = {int(m.findtext("messageId") or 0): m for m in root}

    def add(self, message_id: int) -> None:
        """A new errored message: the recorded 1187 again under a new id and control id."""
        text = ET.tostring(self.messages[1187], encoding="unicode")
        self.messages[message_id] = ET.fromstring(
            text.replace("1187", str(message_id)))

    def transport(self) -> httpx.MockTransport:
        files = {"channels/statuses": "statuses_many.xml",
                 "channels/idsAndNames": "ids_and_names.xml",
                 "channelgroups": "channel_groups.xml",
                 "channels/statistics": "statistics_many.xml"}

        def answer(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            path = request.url.path.removeprefix("/api/")
            if path in files:
                return httpx.Response(200, content=(MIRTH / files[path]).read_bytes())
            channel, _, rest = path.removeprefix("channels/").partition("/")
            assert rest == "messages", path
            if channel == self.refuse:
                return httpx.Response(403)
            q = request.url.params
            assert (q["status"], q["includeContent"]) == ("ERROR", "true")
            low, high = int(q.get("minMessageId", 0)), int(q.get("maxMessageId", 10**9))
            ids = sorted((i for i in self.messages if low <= i <= high and channel == DFT_OUT),
                         reverse=True)[:int(q.get("limit", 20))]
            body = "".join(ET.tostring(self.messages[i], encoding="unicode") for i in ids)
            return httpx.Response(200, content=f"<list>{body}</list>".encode())
        return httpx.MockTransport(answer)

    def searches(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.seen if r.url.path.endswith("/messages")]


def mirth_recorded(**kw: Any) -> SourceConfig:
    return SourceConfig(name="mirth", kind="mirth", base_url="https://mirth.example:8443/api",
                        login=EngineLogin(username="chargeline", password="pw",
                                          method="basic"), max_retries=0,
                        facility_by_group={"North Campus": "FAC01", "Supply chain": "FAC02"},
                        **kw)


def errored(engine: Engine) -> dict[str, tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(interface_messages)).all()
    return {r.control_id: (r.facility_id, r.channel, r.status) for r in rows}


def test_mirth_errored_messages_are_stored_so_the_count_drills_down(engine: Engine) -> None:
    mirth = RecordedMirth()
    source = mirth_recorded(errored_messages=2)
    assert run(engine, source, mirth.transport()).status is RunStatus.OK
    # the first pass reads the newest page of DFT_OUT (7 errors) and SUP_OUT (2 errors);
    # ADT_IN has none and is not searched
    assert [r.url.path.split("/")[3] for r in mirth.seen if r.url.path.endswith(
        "/messages")] == [DFT_OUT, "c2a4e6f8-1b3d-4e5f-a7b9-3c4d5e6f7a03"]
    assert mirth.searches()[0] == {"status": "ERROR", "includeContent": "true", "limit": "2"}
    assert errored(engine) == {"MSG-FAC01-0001187": ("FAC01", "DFT_OUT", "E")}
    with engine.connect() as conn:
        [row] = conn.execute(select(interface_messages)).all()
        quarantined = conn.execute(select(quarantined_records)).all()
    assert row.error == "Mirth: connector To billing in ERROR"
    assert row.patient_token.startswith("pt_") and "0012345" not in str(tuple(row))
    assert [(q.record_kind, "encrypted" in q.reason) for q in quarantined] == [
        ("interface_message", True)]  # 1185; 1183 is older than the first page
    # what the Interfaces page's "errored" link opens: this channel's messages in ERROR
    with engine.connect() as conn:
        assert count_records(conn, DrillFilters(dataset="messages", facilities=("FAC01",),
                                                channel="DFT_OUT", status="E")) == 1

    # three more errors: the next pass walks down from the newest, two a page
    for message_id in (1190, 1191, 1192):
        mirth.add(message_id)
    mirth.seen.clear()
    assert run(engine, source, mirth.transport()).status is RunStatus.OK
    assert [(q.get("minMessageId"), q.get("maxMessageId")) for q in mirth.searches()
            if q] == [("1188", None), ("1188", "1190"), (None, None)]
    assert set(errored(engine)) == {f"MSG-FAC01-000{i}" for i in (1187, 1190, 1191, 1192)}
    assert {v for v in errored(engine).values()} == {("FAC01", "DFT_OUT", "E")}

    # nothing new: one search from the newest id on, nothing stored twice
    mirth.seen.clear()
    assert run(engine, source, mirth.transport()).status is RunStatus.OK
    assert mirth.searches()[0]["minMessageId"] == "1193"
    assert len(errored(engine)) == 4


def test_mirth_reads_no_message_unless_asked(engine: Engine) -> None:
    mirth = RecordedMirth()
    assert run(engine, mirth_recorded(), mirth.transport()).status is RunStatus.OK
    assert mirth.searches() == [] and errored(engine) == {}


def test_messages_the_user_may_not_view_fail_the_run_not_the_snapshot(engine: Engine) -> None:
    mirth = RecordedMirth(refuse=DFT_OUT)
    result = run(engine, mirth_recorded(errored_messages=2), mirth.transport())
    assert result.status is RunStatus.ERROR
    assert "errored messages of DFT_OUT" in result.error and "HTTP 403" in result.error
    assert len(stored(engine)) == 3  # every channel's snapshot
    assert len(mirth.searches()) == 2  # SUP_OUT was still searched
