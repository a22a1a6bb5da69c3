"""Renderings write the same estate other ways: each shows in the payloads what it claims,
changes nothing else, and ``plain`` is the estate's own output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collectors.hl7_parse import parse_hl7_time, parse_message, split_blocks
from collectors.hl7_records import Hl7Converter
from collectors.mapping import load_mapping
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.files import write_estate_files
from simulator.hl7log import Hl7Layout, build_layout
from simulator.renderer import EstateRenderer
from simulator.rendering import PLAIN, RENDERINGS, Rendering
from simulator.served import build_collections
from simulator.timefmt import MINUTE, iso_in, parse_iso_ms
from tests.simulator.rendering_help import UTC_TIME, facility_of, leaves, payloads

END = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def estate() -> Estate:
    # three facilities: New York, Chicago and Kolkata (+05:30); "high" for many faults
    return build_estate(EstateConfig(seed=7, facilities=3, days=3, end=END, volume_scale=0.3,
                                     faults=FaultRates.preset("high")), progress=False)


@pytest.fixture(scope="module")
def plain(estate: Estate):  # type: ignore[no-untyped-def]
    return payloads(estate, None)


def _log_files(layout: Hl7Layout) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, entries in layout.files().items():
        out[name] = b"".join(e.data for e in entries)
    return out


def test_the_presets_are_the_asked_ones() -> None:
    assert set(RENDERINGS) == {"plain", "local", "mixed_zones", "unlinked", "erp_lag",
                               "unit_price", "crlf_acks", "world"}
    assert RENDERINGS["plain"] == Rendering() and RENDERINGS["plain"].is_plain
    world = RENDERINGS["world"]
    for name in ("local", "mixed_zones", "unlinked", "erp_lag", "unit_price", "crlf_acks"):
        preset = RENDERINGS[name]
        assert not preset.is_plain
        # world is every other preset at once: each non-default field of a preset is world's
        for field, value in preset.model_dump().items():
            if value != getattr(PLAIN, field):
                assert getattr(world, field) == getattr(preset, field), (name, field)
    with pytest.raises(ValueError, match="IANA"):
        Rendering(zones=("Mars/Olympus",))
    with pytest.raises(ValueError, match="min <= max"):
        Rendering(erp_posting_lag_minutes=(10, 5))


def test_the_rendering_machinery_without_settings_is_the_estate_s_own_output(
        estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    """Every render function and the HL7 layout of a renderer with nothing set give the
    bytes the estate serves and logs by default (so ``plain`` is today's output)."""
    neutral = EstateRenderer(estate, PLAIN).renderers()
    for name, col in estate.collections.items():
        for record in col.records:
            assert neutral[name](record) == col.render(record), name
    assert _log_files(build_layout(estate, EstateRenderer(estate, PLAIN))) == \
        _log_files(estate.hl7)
    assert payloads(estate, PLAIN) == plain


def test_renderings_leave_the_records_and_the_truth_alone(estate: Estate) -> None:
    before = json.dumps(estate.truth, sort_keys=True)
    # the EOBs are served only when the payers send remittance over FHIR
    eob = Rendering(**{**RENDERINGS["world"].model_dump(), "remittance": "fhir"})
    for rendering in [*RENDERINGS.values(), eob]:
        for name, col in payloads(estate, rendering).items():
            assert col or (name == "billing/ExplanationOfBenefit"
                           and rendering.remittance == "x12"), name
        build_layout(estate, EstateRenderer(estate, rendering))
    again = build_estate(estate.config, progress=False)
    assert json.dumps(estate.truth, sort_keys=True) == before == \
        json.dumps(again.truth, sort_keys=True)


def test_local_times_carry_the_facility_offset_and_the_same_instant(
        estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    rendering = RENDERINGS["local"]
    zones = rendering.facility_time_zones(["FAC01", "FAC02", "FAC03"])
    assert zones == {"FAC01": "America/New_York", "FAC02": "America/Chicago",
                     "FAC03": "Asia/Kolkata"}
    seen_offsets = set()
    for name, rendered in payloads(estate, rendering).items():
        for key, (payload, record) in rendered.items():
            zone = ZoneInfo(zones[facility_of(estate, record)])
            for path, before, after in leaves(plain[name][key][0], payload):
                if isinstance(before, str) and UTC_TIME.match(before):
                    assert parse_iso_ms(after) == parse_iso_ms(before), (name, path)
                    assert after == iso_in(parse_iso_ms(before), zone), (name, path)
                    seen_offsets.add(after[-6:])
                elif path.endswith(".servicedDate"):
                    # a claim line's date of service is the facility's calendar date of
                    # its charge's service instant (UTC's in plain)
                    line = int(path.split("[")[1].split("]")[0])
                    service = record.charges[line].service_ms
                    assert before == iso_in(service, ZoneInfo("UTC"))[:10], (name, path)
                    assert after == iso_in(service, zone)[:10], (name, key, path)
                else:
                    assert after == before, (name, key, path)
    assert {"-05:00", "-06:00", "+05:30"} <= seen_offsets


def test_mixed_zones_keep_the_ehr_in_utc(estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    rendered = payloads(estate, RENDERINGS["mixed_zones"])
    assert rendered["ehr/SupplyDelivery"] == plain["ehr/SupplyDelivery"]
    charges = [p for p, _ in rendered["billing/ChargeItem"].values()]
    assert not any(p["enteredDate"].endswith("Z") for p in charges)
    overrides = RENDERINGS["mixed_zones"].mapping_overrides(["FAC01", "FAC02", "FAC03"])
    assert overrides["ehr-usage"] == {"facility_time_zones": {
        "FAC01": "America/New_York", "FAC02": "America/Chicago", "FAC03": "Asia/Kolkata"}}


def test_a_dst_change_in_the_window_shows_both_offsets_and_the_same_instants() -> None:
    """New York falls back on 2026-11-01 06:00 UTC: a window over it writes -04:00 before
    and -05:00 after, and 01:30 local twice (once per offset), each its own instant."""
    estate = build_estate(EstateConfig(seed=3, facilities=1, days=3,
                                       end=datetime(2026, 11, 3, tzinfo=UTC),
                                       volume_scale=0.3, faults=FaultRates.preset("none")),
                          progress=False)
    plain = payloads(estate, None)["ehr/SupplyDelivery"]
    local = payloads(estate, RENDERINGS["local"])["ehr/SupplyDelivery"]
    change = datetime(2026, 11, 1, 6, tzinfo=UTC).timestamp() * 1000
    offsets = set()
    for key, (payload, usage) in local.items():
        text = payload["occurrenceDateTime"]
        assert parse_iso_ms(text) == parse_iso_ms(plain[key][0]["occurrenceDateTime"])
        assert text.endswith("-04:00" if usage.used_ms < change else "-05:00"), text
        offsets.add(text[-6:])
    assert offsets == {"-04:00", "-05:00"}
    # and the HL7 log: FT1-4 of every DFT^P03 parses to the scan's instant
    layout = build_layout(estate, EstateRenderer(estate, RENDERINGS["local"]))
    hl7_offsets = set()
    for entries in layout.channels.values():
        for e in entries:
            if e.message is None or e.message.event != "DFT^P03":
                continue
            msg = parse_message(split_blocks(e.data, final=True)[0][0].raw)
            stamp = msg.field("FT1", 4)
            hl7_offsets.add(stamp[-5:])
            assert parse_hl7_time(stamp, "FT1-4").timestamp() * 1000 == \
                e.message.usages[0].used_ms
    assert hl7_offsets == {"-0400", "-0500"}


def test_a_zoned_dft_parses_to_the_same_utc_instants(estate: Estate) -> None:
    layout = build_layout(estate, EstateRenderer(estate, RENDERINGS["world"]))
    checked = set()
    for entries in layout.channels.values():
        # world writes each ACK to a log of its own (separate_ack_log)
        acks = {id(e.message): e.data for e in entries if e.ack}
        assert acks
        for e in entries:
            m = e.message
            if e.ack or m is None or m.event != "DFT^P03" or m.ack_ms is None:
                continue
            blocks, _ = split_blocks(e.data + acks[id(m)], final=True)
            inbound, ack = (parse_message(b.raw) for b in blocks)
            ms = [parse_hl7_time(v, "t").timestamp() * 1000 for v in (
                inbound.field("MSH", 7), inbound.field("EVN", 2), inbound.field("FT1", 4),
                ack.field("MSH", 7))]
            assert ms == [m.received_ms, m.received_ms, m.usages[0].used_ms, m.ack_ms]
            checked.add(inbound.field("MSH", 7)[-5:])
    assert checked == {"-0500", "-0600", "+0530"}


def _convert(files: dict[str, bytes]) -> tuple[list[dict], int]:  # type: ignore[type-arg]
    mappings = load_mapping("hl7_log")
    messages, rejected = [], 0
    for name in sorted(files):
        blocks, _ = split_blocks(files[name], final=True)
        batch = Hl7Converter(mappings, name.split("/")[0], "secret").convert(blocks, name)
        messages += [m.model_dump() for m in batch.messages]
        rejected += len(batch.rejected)
    return messages, rejected


def test_the_engine_log_collector_reads_every_rendering_to_the_same_messages(
        estate: Estate) -> None:
    """Local offsets and CR LF after each ACK: the same messages, instants, ACKs and
    rejects as the plain log."""
    plain_files = _log_files(estate.hl7)
    expected, rejected = _convert(plain_files)
    assert expected and rejected
    # world without its ACK logs: one converter call per file cannot join an ACK in
    # another file to its message (the collector does, tests/collectors/test_hl7_ack_log)
    one_log = RENDERINGS["world"].model_copy(update={"separate_ack_log": False})
    for name, rendering in (("crlf_acks", RENDERINGS["crlf_acks"]), ("world", one_log)):
        files = _log_files(build_layout(estate, EstateRenderer(estate, rendering)))
        assert files.keys() == plain_files.keys() and files != plain_files
        assert _convert(files) == (expected, rejected), name


def test_separate_ack_logs_hold_each_ack_beside_its_message_log(estate: Estate) -> None:
    """``separate_ack_log``: the blocks of <channel>-<day>.hl7 are those of the one log
    without its ACKs, the ACKs (in order) are in <channel>-<day>.ack.hl7, which sorts
    first; malformed messages keep their place among the messages."""
    one_log = RENDERINGS["world"].model_copy(update={"separate_ack_log": False})
    joined = _log_files(build_layout(estate, EstateRenderer(estate, one_log)))
    layout = build_layout(estate, EstateRenderer(estate, RENDERINGS["world"]))
    split = _log_files(layout)
    ack_files = {name for name in split if name.endswith(".ack.hl7")}
    assert ack_files and set(split) - ack_files == set(joined)
    for name, data in joined.items():
        ack_name = name.removesuffix(".hl7") + ".ack.hl7"
        assert sorted([ack_name, name]) == [ack_name, name]
        blocks = [b.raw for b in split_blocks(data, final=True)[0]]
        acks = [b for b in blocks if b"|ACK^" in b[:120]]
        assert [b.raw for b in split_blocks(split.get(ack_name, b""), final=True)[0]] == acks
        assert [b.raw for b in split_blocks(split[name], final=True)[0]] == \
            [b for b in blocks if b"|ACK^" not in b[:120]]
    # an entry's offset is its place in its own file
    for name, entries in layout.files().items():
        offset = 0
        for e in entries:
            assert e.offset == offset and e.ack == name.endswith(".ack.hl7")
            offset += len(e.data)


def test_crlf_acks_end_each_ack_with_cr_lf(estate: Estate) -> None:
    plain = estate.hl7
    crlf = build_layout(estate, EstateRenderer(estate, RENDERINGS["crlf_acks"]))
    acks = 0
    for channel, entries in crlf.channels.items():
        for before, after in zip(plain.channels[channel], entries, strict=True):
            m = after.message
            if m is None:
                assert after.data == before.data  # a broken message stays as it was
            elif m.ack_ms is not None and m.ack_ms <= plain.as_of:
                # the ACK's last segment ends with CR; the message separator is CR LF
                assert after.data.endswith((b"\r\r\n", b"\x1c\r\r\n"))
                assert after.data == before.data[:-1] + b"\r\n"
                acks += 1
            else:
                assert after.data == before.data
    assert acks > 1000


def test_crlf_acks_say_where_malformed_messages_moved(estate: Estate, tmp_path: Path) -> None:
    write_estate_files(estate, tmp_path, rendering=RENDERINGS["crlf_acks"])
    info = json.loads((tmp_path / "rendering.json").read_text())
    assert info["rendering"] == "crlf_acks" and info["mappings"] == {}
    moved = {(m["file"], m["offset"]): m["rendered_offset"]
             for m in info["malformed_hl7_offsets"]}
    malformed = [f for f in estate.truth["faults"] if f["kind"] == "malformed_hl7"]
    assert malformed and len(moved) == len(malformed)
    payload = {(e.file, e.offset): e.data for es in estate.hl7.channels.values() for e in es
               if e.malformed is not None}
    for fault in malformed:
        key = (fault["file"], fault["offset"])
        data = (tmp_path / "hl7" / fault["file"]).read_bytes()
        assert moved[key] > fault["offset"]
        assert data[moved[key]:].startswith(payload[key])
    # the truth on disk is the estate's own
    assert json.loads((tmp_path / "truth.json").read_text()) == estate.truth


def _has_links(payload: dict) -> tuple[bool, bool]:  # type: ignore[type-arg]
    urls = {e["url"] for e in payload.get("extension", [])}
    return "urn:chargeline:usage-id" in urls, "urn:chargeline:hl7-control-id" in urls


def test_unlinked_drops_charge_and_issue_links_at_the_asked_share(
        estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    rendering = RENDERINGS["unlinked"]
    rendered = payloads(estate, rendering)
    groups = [f["charge_ids"] for f in estate.truth["faults"] if f["kind"] == "duplicate_charge"]
    in_group = {cid for ids in groups for cid in ids}
    dropped = kept = 0
    for key, (payload, charge) in rendered["billing/ChargeItem"].items():
        usage_link, control_link = _has_links(payload)
        before = plain["billing/ChargeItem"][key][0]
        if usage_link or control_link:
            assert payload == before  # a linked charge is unchanged
        else:
            # only the two link extensions went; everything else is the plain payload
            assert {k: v for k, v in payload.items() if k != "extension"} == \
                {k: v for k, v in before.items() if k != "extension"}
            assert [e for e in before.get("extension", []) if e["url"].split(":")[-1] not in
                    ("usage-id", "hl7-control-id")] == payload.get("extension", [])
        if charge.charge_id in in_group or not (charge.usage_id and charge.control_id):
            continue
        dropped += not usage_link
        kept += usage_link
    assert dropped + kept > 2000
    assert abs(dropped / (dropped + kept) - 0.5) < 0.04
    by_id = {c.charge_id: p for p, c in rendered["billing/ChargeItem"].values()}
    assert len(groups) > 50
    for ids in groups:
        unlinked = [cid for cid in ids if not any(_has_links(by_id[cid]))]
        assert len(unlinked) == 1, ids
    assert {ids.index(next(c for c in ids if not any(_has_links(by_id[c])))) for ids in groups} \
        == {0, 1}  # sometimes the original loses its links, sometimes the copy
    empty = linked = 0
    for key, (row, txn) in rendered["erp/InventoryTransactions"].items():
        before = plain["erp/InventoryTransactions"][key][0]
        assert {k: v for k, v in row.items() if k != "UsageRef"} == \
            {k: v for k, v in before.items() if k != "UsageRef"}
        if txn.txn_type not in ("ISSUE", "RETURN"):
            assert row == before
            continue
        empty += row["UsageRef"] == ""
        linked += row["UsageRef"] == txn.usage_ref != ""
    assert empty + linked > 2000 and abs(empty / (empty + linked) - 0.5) < 0.04
    # deterministic, and the same records lose their links wherever the feature is on
    assert payloads(estate, rendering)["billing/ChargeItem"] == rendered["billing/ChargeItem"]
    world = payloads(estate, RENDERINGS["world"])
    assert {k for k, (p, _) in world["billing/ChargeItem"].items() if not any(_has_links(p))} \
        == {k for k, (p, _) in rendered["billing/ChargeItem"].items() if not any(_has_links(p))}


def test_erp_lag_posts_after_the_movement_within_bounds_and_never_past_the_end(
        estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    rendering = RENDERINGS["erp_lag"]
    low, high = (m * MINUTE for m in rendering.erp_posting_lag_minutes)
    cap = estate.end_ms - MINUTE
    col = build_collections(estate, rendering)["erp/InventoryTransactions"]
    lags = []
    for pos, txn in enumerate(col.records):
        row = col.render(txn)
        before = plain["erp/InventoryTransactions"][(txn.document_id,)][0]
        posted, moved = parse_iso_ms(row["PostedAt"]), parse_iso_ms(row["MovedAt"])
        assert moved == txn.posted_ms == parse_iso_ms(before["PostedAt"])
        lag = posted - moved
        assert 0 <= lag <= high
        # ModifiedAt follows PostedAt, and the served order and visibility follow both
        assert parse_iso_ms(row["ModifiedAt"]) - posted == txn.modified_ms - txn.posted_ms
        assert col.updated[pos] == parse_iso_ms(row["ModifiedAt"])
        if (txn.visible_ms or txn.modified_ms) <= cap:
            assert posted <= cap and col.visible[pos] <= cap
            if (txn.visible_ms or txn.modified_ms) + high <= cap:
                assert lag >= low  # not cut by the window end
        else:
            assert lag == 0  # already past: left where it was
        assert {k: v for k, v in row.items() if k not in ("PostedAt", "MovedAt", "ModifiedAt")} \
            == {k: v for k, v in before.items() if k not in ("PostedAt", "ModifiedAt")}
        lags.append(lag)
    assert sum(lag >= 60 * MINUTE for lag in lags) > len(lags) / 2
    # the same transactions are served at the window end: the truth's counts still hold
    plain_col = estate.collections["erp/InventoryTransactions"]
    assert sorted(t.document_id for t in col.visible_records(estate.end_ms)) == \
        sorted(t.document_id for t in plain_col.visible_records(estate.end_ms))


def test_unit_price_times_quantity_is_the_line_total(estate: Estate, plain) -> None:  # type: ignore[no-untyped-def]
    rendered = payloads(estate, RENDERINGS["unit_price"])
    several = 0
    for key, (payload, _charge) in rendered["billing/ChargeItem"].items():
        before = plain["billing/ChargeItem"][key][0]
        unit, quantity = payload["priceOverride"]["value"], payload["quantity"]["value"]
        total = before["priceOverride"]["value"]
        assert abs(unit * quantity - total) <= 0.01 + 1e-9, key
        assert unit > 0  # a credit's quantity and total are both negative
        if quantity == 1:
            assert unit == total
        elif abs(quantity) > 1:
            assert abs(unit) < abs(total)
            several += 1
        assert {k: v for k, v in payload.items() if k != "priceOverride"} == \
            {k: v for k, v in before.items() if k != "priceOverride"}
    assert several > 500
    assert RENDERINGS["unit_price"].mapping_overrides(["FAC01"]) == {"billing": {"ChargeItem": {
        "fields": {"amount": {"path": "priceOverride.value", "times": "quantity.value"}}}}}
