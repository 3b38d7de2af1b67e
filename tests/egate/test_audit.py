"""The audit chain: verification catches every altered, removed, inserted or
reordered record, in memory, in the database (SQLite and PostgreSQL) and in an export."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from store_fixtures import database_url, store

from egate.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditEntry,
    AuditExportError,
    AuditProblem,
    ChainHead,
    canonical_payload,
    format_timestamp,
    parse_timestamp,
    read_jsonl,
    seal,
    verify_chain,
    write_jsonl,
)
from egate.cli import audit as audit_cli
from egate.store import Store
from egate.store.models import AuditRow

__all__ = ["database_url", "store"]

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        payload = canonical_payload({"i": i, "gate": f"G{i % 3}", "decision": "accept"})
        entry = seal(
            i, T0 + timedelta(seconds=i), f"G{i % 3}", "decision", f"tx-{i}", payload, prev
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(entries[-1].seq, entries[-1].hash) if entries else ChainHead(0, GENESIS_HASH)


# -- in memory -------------------------------------------------------------------------


def test_an_intact_chain_verifies() -> None:
    entries = chain(10)
    result = verify_chain(entries, head=head_of(entries))
    assert (result.ok, result.records, result.head) == (True, 10, head_of(entries))
    assert verify_chain([], head=ChainHead(0, GENESIS_HASH)).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "intruder"),
        ("action", "enrolment.erase"),
        ("subject", "tx-999"),
        ("payload", '{"decision":"refer"}'),
        ("at", T0 - timedelta(days=1)),
    ],
)
def test_an_altered_field_is_named(field: str, value: object) -> None:
    entries = chain(8)
    entries[4] = dataclasses.replace(entries[4], **{field: value})
    result = verify_chain(entries, head=head_of(entries))
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 5, AuditProblem.ALTERED)
    assert result.detail == "record 5: stored hash does not match its contents"


def test_a_removed_record_is_missing() -> None:
    entries = chain(8)
    del entries[2]
    result = verify_chain(entries)
    assert (result.first_bad_seq, result.problem) == (3, AuditProblem.MISSING)
    assert result.detail == "expected record 3, found record 4"


def test_removal_at_the_tail_needs_the_head() -> None:
    entries = chain(8)
    head = head_of(entries)
    assert verify_chain(entries[:6]).ok  # without a head, a truncated chain looks whole
    result = verify_chain(entries[:6], head=head)
    assert (result.first_bad_seq, result.problem) == (7, AuditProblem.HEAD_MISMATCH)


def test_reordered_records_are_out_of_order() -> None:
    entries = chain(8)
    entries[3], entries[4] = entries[4], entries[3]
    result = verify_chain(entries)
    assert (result.first_bad_seq, result.problem) == (4, AuditProblem.MISSING)
    entries = chain(8)
    entries.insert(5, entries[2])  # a replayed copy
    result = verify_chain(entries)
    assert (result.first_bad_seq, result.problem) == (6, AuditProblem.OUT_OF_ORDER)


def test_renumbered_records_break_their_hash() -> None:
    entries = chain(8)
    # swap the positions of records 3 and 6 but keep the sequence numbers in order
    a, b = entries[2], entries[5]
    entries[2] = dataclasses.replace(b, seq=3)
    entries[5] = dataclasses.replace(a, seq=6)
    result = verify_chain(entries)
    assert (result.first_bad_seq, result.problem) == (3, AuditProblem.ALTERED)


def test_an_inserted_record_with_a_valid_hash_breaks_the_link() -> None:
    entries = chain(6)
    # a forger inserts a well-formed record 4 and renumbers the rest with fresh hashes,
    # but cannot make record 4 link to the real record 3 without rewriting from there
    forged = seal(4, T0, "G0", "decision", "tx-forged", "{}", "f" * 64)
    tail = [forged]
    for old in entries[3:]:
        tail.append(
            seal(
                old.seq + 1, old.at, old.actor, old.action, old.subject, old.payload, tail[-1].hash
            )
        )
    result = verify_chain(entries[:3] + tail)
    assert (result.first_bad_seq, result.problem) == (4, AuditProblem.BROKEN_LINK)


def test_a_fully_rewritten_chain_is_caught_by_an_anchor() -> None:
    entries = chain(6)
    anchor = ChainHead(4, entries[3].hash)
    rewritten = [
        seal(e.seq, e.at, e.actor, e.action, e.subject, e.payload, GENESIS_HASH)
        for e in entries[:1]
    ]
    for e in entries[1:]:
        rewritten.append(
            seal(e.seq, e.at, "forger", e.action, e.subject, e.payload, rewritten[-1].hash)
        )
    assert verify_chain(rewritten, head=head_of(rewritten)).ok
    result = verify_chain(rewritten, anchor=anchor)
    assert (result.first_bad_seq, result.problem) == (4, AuditProblem.ANCHOR_MISMATCH)
    short = verify_chain(entries[:3], anchor=anchor)
    assert (short.first_bad_seq, short.problem) == (4, AuditProblem.MISSING)


@given(
    n=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_any_single_change_is_detected_at_its_record(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "subject", "payload", "prev_hash"]))
    new = data.draw(st.text(min_size=0, max_size=20))
    if getattr(entries[i], field) == new:
        return
    entries[i] = dataclasses.replace(entries[i], **{field: new})
    result = verify_chain(entries, head=head_of(chain(n)))
    assert not result.ok
    assert result.first_bad_seq == i + 1


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_timestamps_have_one_spelling(at: datetime) -> None:
    text_ = format_timestamp(at)
    assert len(text_) == 27
    assert text_ == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_timestamp(text_) == at.astimezone(UTC)


def test_chain_head_parse() -> None:
    head = ChainHead.parse(f"12:{'AB' * 32}")
    assert head == ChainHead(12, "ab" * 32)
    assert ChainHead.parse(str(head)) == head
    with pytest.raises(ValueError, match="expected SEQ:HASH"):
        ChainHead.parse("12:abc")


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(1, datetime(2026, 1, 1), "a", "b", "c", "{}", GENESIS_HASH)


# -- export ------------------------------------------------------------------------------


def test_export_round_trips_and_is_verifiable() -> None:
    entries = chain(5)
    buffer = io.StringIO()
    assert write_jsonl(entries, buffer) == 5
    buffer.seek(0)
    assert list(read_jsonl(buffer)) == entries


def test_a_malformed_export_line_is_named() -> None:
    lines = io.StringIO('{"seq": 1}\n')
    with pytest.raises(AuditExportError, match="audit export line 1: KeyError") as err:
        list(read_jsonl(lines))
    assert err.value.code == "audit_export_malformed"


# -- in the database -------------------------------------------------------------------


def fill(store: Store, n: int = 6) -> None:
    with store.unit_of_work() as uow:
        for i in range(n):
            uow.audit.append("op-1", AuditAction.WATCHLIST_LOAD, f"list-{i}", {"entries": i})


def tamper(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))


def test_database_chain_verifies(store: Store) -> None:
    fill(store)
    result = store.verify_audit()
    assert (result.ok, result.records, result.head.seq) == (True, 6, 6)


def test_database_altered_payload(store: Store) -> None:
    fill(store)
    tamper(store, """UPDATE audit_log SET payload = '{"entries": 999}' WHERE seq = 3""")
    result = store.verify_audit()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, AuditProblem.ALTERED)


def test_database_removed_record(store: Store) -> None:
    fill(store)
    tamper(store, "DELETE FROM audit_log WHERE seq = 2")
    result = store.verify_audit()
    assert (result.first_bad_seq, result.problem) == (2, AuditProblem.MISSING)


def test_database_removed_tail(store: Store) -> None:
    fill(store)
    tamper(store, "DELETE FROM audit_log WHERE seq >= 5")
    result = store.verify_audit()
    assert (result.first_bad_seq, result.problem) == (5, AuditProblem.HEAD_MISMATCH)


def test_database_reordered_records(store: Store) -> None:
    fill(store)
    tamper(
        store,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 100",
    )
    result = store.verify_audit()
    assert (result.first_bad_seq, result.problem) == (2, AuditProblem.ALTERED)


def test_database_inserted_record(store: Store) -> None:
    fill(store)
    # shift records 4.. up by one and slip a forged record 4 in between
    tamper(
        store,
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4",
        "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000",
    )
    forged = seal(4, T0, "op-1", "watchlist.load", "list-x", "{}", "0" * 64)
    with store.unit_of_work() as uow:
        uow.session.add(AuditRow(**dataclasses.asdict(forged)))
    result = store.verify_audit()
    assert (result.first_bad_seq, result.problem) == (4, AuditProblem.BROKEN_LINK)


# -- the CLI -----------------------------------------------------------------------------


def test_cli_verify_and_export(store: Store, tmp_path: Path) -> None:
    fill(store)
    runner = CliRunner()
    ok = runner.invoke(audit_cli, ["verify", "--database-url", store.url])
    assert ok.exit_code == 0, ok.output
    assert "audit chain ok: 6 records" in ok.output
    head = runner.invoke(audit_cli, ["head", "--database-url", store.url]).output.strip()
    assert ChainHead.parse(head).seq == 6
    export = tmp_path / "audit.jsonl"
    out = runner.invoke(audit_cli, ["export", "--database-url", store.url, "-o", str(export)])
    assert out.exit_code == 0, out.output
    assert len(export.read_text().splitlines()) == 6
    assert (
        runner.invoke(audit_cli, ["verify", "--file", str(export), "--anchor", head]).exit_code == 0
    )

    lines = export.read_text().splitlines()
    lines[2] = lines[2].replace('"actor": "op-1"', '"actor": "op-2"')
    export.write_text("\n".join(lines) + "\n")
    broken = runner.invoke(audit_cli, ["verify", "--file", str(export)])
    assert broken.exit_code == 1
    assert "BROKEN at record 3 (altered)" in broken.output

    tamper(store, "DELETE FROM audit_log WHERE seq = 6")
    cut = runner.invoke(audit_cli, ["verify", "--database-url", store.url])
    assert cut.exit_code == 1
    assert "BROKEN at record 6 (head_mismatch)" in cut.output
    bad = runner.invoke(audit_cli, ["verify", "--database-url", store.url, "--anchor", "x"])
    assert bad.exit_code == 2
    assert "expected SEQ:HASH" in bad.output
