"""NextGen Connect answers (tests/data/engines/mirth, written from the API's model
classes) into ChannelStats: XML and Staxon JSON alike, one channel and many, states,
names and groups, bad answers refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.hl7_records import Hl7Converter
from collectors.mapping import load_mapping
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
from core.errors import RecordError
from core.model import InterfaceMessage, MessageStatus, channel_state

DATA = Path(__file__).parents[1] / "data" / "engines" / "mirth"
DFT, ADT, SUP = ("0b5e8a52-3c3d-4c8e-9f0e-1a2b3c4d5e01", "7d1f9c0a-6b2e-4f7d-8a3c-2b3c4d5e6f02",
                 "c2a4e6f8-1b3d-4e5f-a7b9-3c4d5e6f7a03")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def doc(name: str) -> object:
    return read_document((DATA / name).read_bytes(), name)


@pytest.mark.parametrize("name", ["statistics_many.xml", "statistics_many.json"])
def test_statistics_of_many_channels_in_xml_and_json(name: str) -> None:
    counters, rejects = parse_statistics(doc(name), name)
    assert rejects == []
    assert [(c.channel_id, c.received, c.filtered, c.queued, c.sent, c.errored)
            for c in counters] == [(DFT, 1250, 33, 12, 1198, 7), (ADT, 430, 0, 0, 430, 0),
                                   (SUP, 88, 0, 6, 80, 2)]


@pytest.mark.parametrize("name", ["statistics_one.xml", "statistics_one.json"])
def test_one_channel_is_an_object_not_a_list_and_still_read(name: str) -> None:
    counters, _ = parse_statistics(doc(name), name)
    assert [(c.channel_id, c.errored) for c in counters] == [(DFT, 7)]


def test_no_channel_deployed_is_an_empty_snapshot() -> None:
    assert parse_statistics(doc("statistics_none.xml"), "x") == ([], [])


@pytest.mark.parametrize("suffix", ["xml", "json"])
def test_xml_and_json_read_the_same(suffix: str) -> None:
    assert parse_channel_names(doc(f"ids_and_names.{suffix}"), "x") == {
        DFT: "DFT_OUT", ADT: "ADT_IN", SUP: "SUP_OUT"}
    assert parse_channel_groups(doc(f"channel_groups.{suffix}"), "x") == {
        DFT: "North Campus", ADT: "North Campus", SUP: "Supply chain"}


def test_states_started_paused_stopped_and_a_waiting_connector() -> None:
    statuses = parse_statuses(doc("statuses_many.xml"), "x")
    assert {s.name: s.state for s in statuses.values()} == {
        "DFT_OUT": "STARTED", "ADT_IN": "PAUSED", "SUP_OUT": "STOPPED"}
    assert [s.started for s in statuses.values()] == [True, False, False]
    destination = statuses[DFT].connectors[1]
    assert (destination.meta_data_id, destination.name, destination.queue_enabled,
            destination.queued, destination.waiting) == (1, "To billing", True, 12, True)
    assert state_notes(statuses) == ["DFT_OUT/To billing: 12 queued (STARTED)",
                                     "ADT_IN: PAUSED", "SUP_OUT: STOPPED",
                                     "SUP_OUT/To ERP: 6 queued (STOPPED)"]


def test_one_stopped_channel_in_json() -> None:
    statuses = parse_statuses(doc("statuses_one.json"), "x")
    (status,) = statuses.values()
    assert (status.name, status.state, status.queued) == ("SUP_OUT", "STOPPED", 6)
    assert [(k.name, k.queued) for k in status.connectors] == [("Source", 0), ("To ERP", 6)]


def test_channel_stats_named_and_placed_by_group() -> None:
    counters, _ = parse_statistics(doc("statistics_many.xml"), "x")
    facilities = {"North Campus": "FAC01"}
    records, rejects = channel_stats(
        counters, parse_statuses(doc("statuses_many.xml"), "x"),
        parse_channel_names(doc("ids_and_names.json"), "x"),
        parse_channel_groups(doc("channel_groups.xml"), "x"), NOW,
        lambda group: facilities.get(group, "FAC09"), "https://mirth/api/channels/statistics")
    assert rejects == []
    assert [(r.channel, r.facility_id, r.received, r.filtered, r.queued, r.sent, r.errored)
            for r in records] == [("DFT_OUT", "FAC01", 1250, 33, 12, 1198, 7),
                                  ("ADT_IN", "FAC01", 430, 0, 0, 430, 0),
                                  ("SUP_OUT", "FAC09", 88, 0, 6, 80, 2)]
    assert {r.observed_at for r in records} == {NOW}


@pytest.mark.parametrize("statistics", ["statistics_many.xml", "statistics_many.json"])
def test_channel_stats_keep_the_state_and_the_waiting_connectors(statistics: str) -> None:
    """DFT_OUT started with its destination queueing, ADT_IN paused, SUP_OUT stopped with
    its destination holding 6: each snapshot says so in the store's words."""
    counters, _ = parse_statistics(doc(statistics), "x")
    records, rejects = channel_stats(counters, parse_statuses(doc("statuses_many.xml"), "x"),
                                     parse_channel_names(doc("ids_and_names.xml"), "x"), {},
                                     NOW, lambda group: "FAC01", "x")
    assert rejects == []
    assert [(r.channel, r.state, r.waiting_connectors) for r in records] == [
        ("DFT_OUT", "started", 1), ("ADT_IN", "paused", 0), ("SUP_OUT", "stopped", 1)]


def test_the_state_of_one_stopped_channel_in_json_and_none_without_a_status() -> None:
    counters, _ = parse_statistics(doc("statistics_many.json"), "x")
    records, _ = channel_stats(counters, parse_statuses(doc("statuses_one.json"), "x"), {},
                               {}, NOW, lambda group: "", "x")
    # only SUP_OUT has a dashboard status: the others' state is not said ('' and 0)
    assert [(r.channel, r.state, r.waiting_connectors) for r in records] == [
        (DFT, "", 0), (ADT, "", 0), ("SUP_OUT", "stopped", 1)]


@pytest.mark.parametrize(("word", "state"), [
    ("STARTED", "started"), ("PAUSED", "paused"), ("PAUSING", "paused"),
    ("STOPPED", "stopped"), ("STOPPING", "stopped"), ("DEPLOYING", "deploying"),
    ("STARTING", "deploying"), ("UNDEPLOYED", "undeployed"), ("UNKNOWN", "unknown"),
    ("SOMETHING_NEW", "unknown"), ("", ""), ("stopped", "stopped")])
def test_mirth_deployed_states_in_the_stores_words(word: str, state: str) -> None:
    assert channel_state(word) == state


def test_a_channel_without_a_known_name_keeps_its_id() -> None:
    counters, _ = parse_statistics(doc("statistics_one.xml"), "x")
    records, _ = channel_stats(counters, {}, {}, {}, NOW, lambda g: "", "x")
    assert records[0].channel == DFT  # 36 characters: fits the 64 of the column


def test_a_bad_row_is_a_reject_and_the_others_stay() -> None:
    body = (b"<list><channelStatistics><channelId>a</channelId><received>x</received>"
            b"</channelStatistics><channelStatistics><channelId>b</channelId>"
            b"<received>3</received></channelStatistics></list>")
    counters, rejects = parse_statistics(read_document(body, "u"), "u")
    assert [c.channel_id for c in counters] == ["b"]
    assert [(r.position, r.reason) for r in rejects] == [("u#channel0",
                                                          "received is not an integer")]


def test_a_negative_count_is_quarantined_not_stored() -> None:
    body = b'{"list":{"channelStatistics":{"channelId":"a","received":-1}}}'
    counters, _ = parse_statistics(read_document(body, "u"), "u")
    records, rejects = channel_stats(counters, {}, {}, {}, NOW, lambda g: "", "u")
    assert records == [] and len(rejects) == 1 and "received" in rejects[0].reason


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html><body>Sign in</body></html>", "root element <html>"),
    (b"<!DOCTYPE list [<!ENTITY a 'b'>]><list/>", "DTD refused"),
    (b"<list><channelStatistics>", "does not parse"),
    (b"Service Unavailable", "neither XML nor JSON"),
    (b'{"channels": [], "generatedAt": "x"}', "expected one root element"),
    (b'{"channels": []}', "root element <channels>"),
])
def test_answers_that_are_not_statistics_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_statistics(read_document(body, "u"), "u")


def test_login_status_success_and_failure() -> None:
    assert parse_login(doc("login_success.xml")) == ("SUCCESS", "")
    assert parse_login(doc("login_fail.json")) == ("FAIL", "Incorrect username or password.")


# --- the message API: errored messages ---------------------------------------------------

def test_errored_messages_in_xml_and_json_read_the_same() -> None:
    many = parse_messages(doc("messages_error.xml"), "messages_error.xml")
    assert [(m.message_id, m.connector, m.encrypted) for m in many] == [
        (1187, "To billing", False), (1185, "To billing", True), (1183, "Source", False)]
    [one] = parse_messages(doc("messages_error_one.json"), "messages_error_one.json")
    assert one == many[0]  # one message in Staxon JSON is an object, not a list
    assert one.content.startswith("MSH|^~\\&|EHR|FAC01|") and "\rPID|" in one.content
    assert parse_messages(read_document(b"<list/>", "x"), "x") == []


def test_a_message_without_a_connector_in_error_counts_but_stores_nothing() -> None:
    answer = (b"<list><message><messageId>9</messageId><connectorMessages><entry><int>1</int>"
              b"<connectorMessage><metaDataId>1</metaDataId><status>SENT</status>"
              b"</connectorMessage></entry></connectorMessages></message></list>")
    [m] = parse_messages(read_document(answer, "x"), "x")
    assert (m.message_id, m.errored) == (9, False)
    converter = Hl7Converter(load_mapping("hl7_log"), "DFT_OUT", "k" * 32, "mirth")
    assert errored_records([m], converter, "FAC01", "x") == ([], [])


def test_errored_messages_become_error_messages_with_patient_tokens() -> None:
    converter = Hl7Converter(load_mapping("hl7_log"), "DFT_OUT", "k" * 32, "mirth")
    messages = parse_messages(doc("messages_error.xml"), "messages_error.xml")
    records, rejects = errored_records(messages, converter, "FAC09", "api/messages")
    [message] = [r for r in records if isinstance(r, InterfaceMessage)]
    assert (message.channel, message.control_id, message.facility_id) == (
        "DFT_OUT", "MSG-FAC01-0001187", "FAC01")  # MSH-4 first, the group's facility else
    assert message.status is MessageStatus.ERROR
    assert message.error == "Mirth: connector To billing in ERROR"
    assert message.usage_ids == ("U-FAC01-0001187",)
    assert message.patient_token and "0012345" not in message.model_dump_json()
    assert "DOE" not in message.model_dump_json()
    reasons = {r.position.rsplit("#", 1)[1].split("@")[0]: r.reason for r in rejects}
    assert sorted(reasons) == ["message1183", "message1185"]
    assert "encrypted" in reasons["message1185"]
    assert "MSH" in reasons["message1183"]  # the converter's own reason


@pytest.mark.parametrize("body", [
    {"list": {"message": [None, "text", {"messageId": "x"}, {"messageId": 5}]}},
    {"list": {"message": {"messageId": 5, "connectorMessages": "junk"}}},
    {"list": {"message": {"messageId": 5, "connectorMessages": {"entry": [
        None, {"connectorMessage": "x"}, {"connectorMessage": {"status": "ERROR",
                                                                "raw": {"@class": "map"}}}]}}}},
])
def test_odd_message_answers_never_raise_and_store_nothing_unreadable(body: object) -> None:
    messages = parse_messages(body, "x")
    converter = Hl7Converter(load_mapping("hl7_log"), "DFT_OUT", "k" * 32, "mirth")
    records, rejects = errored_records(messages, converter, "FAC01", "x")
    assert records == []
    assert all("no content" in r.reason for r in rejects)


def test_an_answer_that_is_not_a_message_list_is_refused() -> None:
    with pytest.raises(RecordError, match="expected <list> of <message>"):
        parse_messages({"map": {}}, "x")
