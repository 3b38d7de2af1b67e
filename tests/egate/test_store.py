"""The store on SQLite and PostgreSQL: enrolment, transactions, search, gates,
operators, idempotency (with concurrent retries), watchlists, manifests."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from store_fixtures import KEY_1, KEY_2, T0, append_audit_records, database_url, store

from egate.audit import AuditAction
from egate.crypto import TemplateKeyring
from egate.documents import Sex
from egate.gate import Decision, ReferralReason, State
from egate.store import (
    AlreadyExists,
    DocumentAlreadyEnrolled,
    DocumentData,
    DocumentWatchEntry,
    IdempotencyConflict,
    InvalidQuery,
    ManifestData,
    NotFound,
    OperatorRole,
    PersonWatchEntry,
    Store,
    StoredResponse,
    TemplateData,
    TemplateKeyMissing,
    TransactionAlreadyDecided,
    TransactionQuery,
    TransactionRecord,
    TravellerData,
    UnitOfWork,
    new_transaction_id,
)
from egate.store.engine import MAX_OVERFLOW, ConnectionBudgetExceeded, check_connection_budget
from egate.store.models import AuditRow, IdempotencyRecord, Template, Transaction

__all__ = ["database_url", "store"]  # fixtures used by name

ANNA = TravellerData("ERIKSSON", "ANNA MARIA", date(1974, 8, 12), "UTO", Sex.FEMALE)
PASSPORT = DocumentData("UTO", "L898902C3", "P", date(2032, 4, 15))
ID_CARD = DocumentData("UTO", "D23145890", "I", date(2031, 1, 1))


def vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)


def enrol_anna(uow: UnitOfWork) -> str:
    return uow.enrolments.create(
        ANNA, [PASSPORT], [TemplateData("dlib-resnet", vector(1))], actor="op-1"
    ).traveller_id


def count(store: Store, table: type) -> int:
    with store.read() as r:
        return int(r.session.scalar(select(func.count()).select_from(table)) or 0)


# -- enrolment -----------------------------------------------------------------------


def test_enrolment_round_trip_decrypts_the_template(store: Store) -> None:
    with store.unit_of_work() as uow:
        tid = enrol_anna(uow)
    with store.read() as r:
        found = r.enrolments.find_by_document("UTO", "L898902C3")
    assert found is not None
    assert found.traveller_id == tid
    assert found.traveller == ANNA
    assert found.documents == (PASSPORT,)
    np.testing.assert_array_equal(found.templates[0].vector, vector(1))
    assert found.templates[0].key_id == "k1"


def test_templates_are_never_stored_in_plaintext(store: Store) -> None:
    with store.unit_of_work() as uow:
        enrol_anna(uow)
    with store.read() as r:
        stored = r.session.execute(select(Template.ciphertext, Template.nonce)).one()
    plain = vector(1).tobytes()
    assert plain not in stored.ciphertext
    assert plain[:16] not in stored.ciphertext
    assert len(stored.ciphertext) == len(plain) + 16  # GCM tag
    assert len(stored.nonce) == 12


def test_a_template_moved_to_another_traveller_fails_to_decrypt(store: Store) -> None:
    from egate.crypto import TemplateDecryptionError

    with store.unit_of_work() as uow:
        anna = enrol_anna(uow)
        bob = uow.enrolments.create(
            TravellerData("SMITH", "BOB", date(1980, 1, 1), "UTO", Sex.MALE),
            [ID_CARD],
            [TemplateData("dlib-resnet", vector(2))],
            actor="op-1",
        ).traveller_id
    with store.unit_of_work() as uow:
        rows = {t.traveller_id: t for t in uow.session.scalars(select(Template))}
        rows[bob].ciphertext, rows[bob].nonce = rows[anna].ciphertext, rows[anna].nonce
    with store.read() as r, pytest.raises(TemplateDecryptionError, match="another traveller"):
        r.enrolments.get(bob)


def test_a_document_cannot_be_enrolled_twice(store: Store) -> None:
    with store.unit_of_work() as uow:
        tid = enrol_anna(uow)
    with (
        pytest.raises(DocumentAlreadyEnrolled, match=f"UTO L898902C3 .*{tid}") as err,
        store.unit_of_work() as uow,
    ):
        enrol_anna(uow)
    assert err.value.code == "document_already_enrolled"
    assert count(store, Template) == 1  # the second enrolment wrote nothing


def test_update_replaces_templates_and_documents(store: Store) -> None:
    with store.unit_of_work() as uow:
        tid = enrol_anna(uow)
    with store.unit_of_work() as uow:
        updated = uow.enrolments.update(
            tid,
            actor="op-2",
            documents=[PASSPORT, ID_CARD],
            templates=[TemplateData("dlib-resnet", vector(3)), TemplateData("onnx", vector(4))],
        )
    assert updated.documents == (PASSPORT, ID_CARD)
    assert [t.embedder for t in updated.templates] == ["dlib-resnet", "onnx"]
    assert count(store, Template) == 2
    with store.read() as r:
        assert r.enrolments.find_by_document("UTO", "D23145890") is not None
        pairs = list(r.enrolments.templates(embedder="onnx"))
        entries = r.audit.for_subject(tid)
    assert [p[0] for p in pairs] == [tid]
    np.testing.assert_array_equal(pairs[0][1], vector(4))
    assert [e.action for e in entries] == ["enrolment.create", "enrolment.update"]
    assert entries[1].data == {
        "changed": ["documents", "templates"],
        "documents": 2,
        "templates": 2,
    }


def test_erasure_deletes_templates_and_is_audited_without_personal_data(store: Store) -> None:
    with store.unit_of_work() as uow:
        tid = enrol_anna(uow)
    with store.unit_of_work() as uow:
        uow.enrolments.erase(tid, actor="op-3")
    assert count(store, Template) == 0
    with store.read() as r:
        assert r.enrolments.get(tid) is None
        assert r.enrolments.find_by_document("UTO", "L898902C3") is None
        erased = r.audit.for_subject(tid)[-1]
    assert (erased.action, erased.actor) == ("enrolment.erase", "op-3")
    assert "ERIKSSON" not in erased.payload
    assert "L898902C3" not in erased.payload
    with (
        pytest.raises(NotFound, match=f"no enrolment with id '{tid}'"),
        store.unit_of_work() as uow,
    ):
        uow.enrolments.erase(tid, actor="op-3")


def test_key_rotation_reencrypts_every_template(database_url: str) -> None:
    old = Store(database_url, template_key=TemplateKeyring.single("k1", KEY_1))
    old.upgrade()
    with old.unit_of_work() as uow:
        tid = enrol_anna(uow)
    old.close()
    both = Store(database_url, template_key=TemplateKeyring({"k1": KEY_1, "k2": KEY_2}, "k2"))
    with both.unit_of_work() as uow:
        assert uow.enrolments.reencrypt(actor="admin", limit=10) == 1
    with both.unit_of_work() as uow:
        assert uow.enrolments.reencrypt(actor="admin") == 0
    both.close()
    new = Store(database_url, template_key=TemplateKeyring.single("k2", KEY_2))
    with new.read() as r:
        enrolment = r.enrolments.get(tid)
    new.close()
    assert enrolment is not None
    assert enrolment.templates[0].key_id == "k2"
    np.testing.assert_array_equal(enrolment.templates[0].vector, vector(1))


def test_templates_need_a_keyring(database_url: str) -> None:
    bare = Store(database_url)
    bare.upgrade()
    with pytest.raises(TemplateKeyMissing, match="no template keyring"), bare.unit_of_work() as uow:
        enrol_anna(uow)
    bare.close()


# -- transactions --------------------------------------------------------------------


def make_transaction(
    gate: str,
    minute: int,
    decision: Decision | None = Decision.ACCEPT,
    reason: ReferralReason | None = None,
    number: str = "L898902C3",
) -> TransactionRecord:
    opened = T0 + timedelta(minutes=minute)
    state = (
        {Decision.ACCEPT: State.ACCEPTED, Decision.REFER: State.REFERRED}.get(
            decision, State.CAPTURING
        )
        if decision
        else State.CAPTURING
    )
    return TransactionRecord(
        id=new_transaction_id(),
        gate_id=gate,
        opened_at=opened,
        state=state,
        attempts=1,
        steps=[{"step": "document_read", "passed": True}],
        closed_at=opened + timedelta(seconds=9) if decision else None,
        decision=decision,
        referral_reason=reason,
        referral_detail="distance 0.71 > 0.6" if reason else None,
        document_issuer="UTO",
        document_number=number,
    )


def register_gates(store: Store, *gates: str) -> None:
    with store.unit_of_work() as uow:
        for gate in gates:
            uow.gates.register(gate, "T1 arrivals", actor="admin")


def test_transaction_round_trip_and_one_decision_audit(store: Store) -> None:
    register_gates(store, "G1")
    record = make_transaction("G1", 0, decision=None)
    with store.unit_of_work() as uow:
        uow.transactions.save(record, actor="G1")
    decided = TransactionRecord(
        **{
            **{f: getattr(record, f) for f in record.__slots__},
            "state": State.REFERRED,
            "decision": Decision.REFER,
            "referral_reason": ReferralReason.NO_MATCH,
            "referral_detail": "3 attempts",
            "attempts": 3,
            "snapshot": {"transaction_id": record.id, "state": "referred"},
            "closed_at": record.opened_at + timedelta(seconds=20),
        }
    )
    with store.unit_of_work() as uow:
        uow.transactions.save(decided, actor="G1")
    with store.unit_of_work() as uow:
        uow.transactions.save(decided, actor="G1")  # a retry: no second audit record
    with store.read() as r:
        assert r.transactions.get(record.id) == decided
        entries = [e for e in r.audit.entries() if e.action == "decision"]
    assert [(e.subject, e.data["decision"], e.data["reason"]) for e in entries] == [
        (record.id, "refer", "no_match")
    ]
    changed = TransactionRecord(
        **{**{f: getattr(decided, f) for f in decided.__slots__}, "decision": Decision.ACCEPT}
    )
    with (
        pytest.raises(TransactionAlreadyDecided, match=r"decided 'refer'; refusing .* 'accept'"),
        store.unit_of_work() as uow,
    ):
        uow.transactions.save(changed, actor="G1")


def test_create_inserts_a_new_transaction_once_and_audits_its_decision(store: Store) -> None:
    register_gates(store, "G1")
    record = make_transaction("G1", 0, decision=Decision.REFER, reason=ReferralReason.DOCUMENT)
    with store.unit_of_work() as uow:
        uow.transactions.create(record, actor="G1")
    with pytest.raises(IntegrityError), store.unit_of_work() as uow:
        uow.transactions.create(record, actor="G1")
    with store.read() as r:
        assert r.transactions.get(record.id) == record
        decisions = [e.subject for e in r.audit.entries() if e.action == "decision"]
    assert decisions == [record.id]
    assert store.verify_audit().ok


def test_a_locked_transaction_is_decided_and_audited_once(store: Store) -> None:
    register_gates(store, "G1")
    record = make_transaction("G1", 0, decision=None)
    with store.unit_of_work() as uow:
        uow.transactions.create(record, actor="G1")
    decided = dataclasses.replace(
        record, state=State.ACCEPTED, decision=Decision.ACCEPT, attempts=2
    )
    with store.unit_of_work() as uow:
        current = uow.transactions.get(record.id, for_update=True)
        assert current == record
        uow.transactions.save(decided, actor="G1")
        uow.transactions.save(decided, actor="G1")  # saved again in the same unit: no 2nd record
        with pytest.raises(TransactionAlreadyDecided, match="decided 'accept'"):
            uow.transactions.save(dataclasses.replace(decided, decision=Decision.REFER), actor="G1")
    with store.read() as r:
        assert r.transactions.get(record.id) == decided
        assert [e.subject for e in r.audit.entries() if e.action == "decision"] == [record.id]


def test_locked_reads_serialise_two_workers_advancing_one_transaction(store: Store) -> None:
    register_gates(store, "G1")
    record = make_transaction("G1", 0, decision=None)
    with store.unit_of_work() as uow:
        uow.transactions.save(record, actor="G1")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def capture() -> None:
        barrier.wait()
        try:
            with store.unit_of_work() as uow:
                current = uow.transactions.get(record.id, for_update=True)
                assert current is not None
                time.sleep(0.2)  # both workers are inside; only one may hold the row
                uow.transactions.save(
                    dataclasses.replace(current, attempts=current.attempts + 1), actor="G1"
                )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=capture) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with store.read() as r:
        final = r.transactions.get(record.id)
    assert final is not None
    assert final.attempts == record.attempts + 2  # no lost update


def test_a_failed_unit_of_work_leaves_nothing_behind(store: Store) -> None:
    register_gates(store, "G1")
    with store.read() as r:
        head = r.audit.head()

    def crash(uow: UnitOfWork) -> None:
        uow.transactions.save(make_transaction("G1", 0), actor="G1")
        raise RuntimeError("gate crashed")

    with pytest.raises(RuntimeError, match="gate crashed"), store.unit_of_work() as uow:
        crash(uow)
    assert count(store, Transaction) == 0
    with store.read() as r:
        assert r.audit.head() == head


def test_search_filters_and_pages(store: Store) -> None:
    register_gates(store, "G1", "G2")
    records = [
        make_transaction("G1", 0),
        make_transaction("G1", 10, Decision.REFER, ReferralReason.NO_MATCH),
        make_transaction("G2", 20, Decision.REFER, ReferralReason.WATCHLIST, number="X1"),
        make_transaction("G1", 70),
        make_transaction("G2", 80, decision=None),
    ]
    with store.unit_of_work() as uow:
        for rec in records:
            uow.transactions.save(rec, actor=rec.gate_id)

    def ids(**filters: object) -> list[str]:
        with store.read() as r:
            return [t.id for t in r.transactions.search(TransactionQuery(**filters))]  # type: ignore[arg-type]

    r0, r1, r2, r3, r4 = (r.id for r in records)
    assert ids() == [r4, r3, r2, r1, r0]
    assert ids(gate_id="G1") == [r3, r1, r0]
    assert ids(start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=70)) == [r2, r1]
    assert ids(decision=Decision.REFER) == [r2, r1]
    assert ids(referral_reason=ReferralReason.WATCHLIST) == [r2]
    assert ids(document_issuer="UTO", document_number="X1") == [r2]
    assert ids(gate_id="G1", decision=Decision.ACCEPT, start=T0 + timedelta(minutes=1)) == [r3]
    first = ids(limit=2)
    last = records[3]
    assert first == [r4, r3]
    assert ids(limit=2, before=(last.opened_at, last.id)) == [r2, r1]
    with pytest.raises(InvalidQuery, match=r"limit=0: must be 1\.\.1000"):
        ids(limit=0)
    with pytest.raises(InvalidQuery, match="must be after start"):
        ids(start=T0, end=T0)


def test_decision_counts_per_hour(store: Store) -> None:
    register_gates(store, "G1")
    with store.unit_of_work() as uow:
        for minute, decision in [
            (0, Decision.ACCEPT),
            (5, Decision.ACCEPT),
            (30, Decision.REFER),
            (61, Decision.ACCEPT),
            (62, None),
            (200, Decision.ACCEPT),
        ]:
            reason = ReferralReason.NO_MATCH if decision is Decision.REFER else None
            uow.transactions.save(make_transaction("G1", minute, decision, reason), actor="G1")
    with store.read() as r:
        counts = r.transactions.count_by_hour(T0, T0 + timedelta(hours=3))
    h0, h1 = T0, T0 + timedelta(hours=1)
    assert [(c.hour, c.decision, c.count) for c in counts] == [
        (h0, Decision.ACCEPT, 2),
        (h0, Decision.REFER, 1),
        (h1, Decision.ACCEPT, 1),
        (h1, None, 1),
    ] or [(c.hour, c.decision, c.count) for c in counts] == [
        (h0, Decision.ACCEPT, 2),
        (h0, Decision.REFER, 1),
        (h1, None, 1),
        (h1, Decision.ACCEPT, 1),
    ]  # NULL sorts first on SQLite, last on PostgreSQL


# -- gates and operators ---------------------------------------------------------------


def test_gate_keys_authenticate_rotate_and_disable(store: Store) -> None:
    with store.unit_of_work() as uow:
        key = uow.gates.register("G1", "T1 arrivals", actor="admin")
    with store.read() as r:
        gate = r.gates.authenticate(key)
        stored = r.session.execute(text("SELECT key_digest FROM gates")).scalar_one()
        assert r.gates.authenticate(key + "x") is None
    assert gate is not None
    assert gate.id == "G1"
    assert key not in stored
    assert len(stored) == 64
    with store.unit_of_work() as uow:
        new_key = uow.gates.rotate_key("G1", actor="admin")
    with store.read() as r:
        assert r.gates.authenticate(key) is None
        assert r.gates.authenticate(new_key) is not None
    with store.unit_of_work() as uow:
        uow.gates.disable("G1", actor="admin")
    with store.read() as r:
        assert r.gates.authenticate(new_key) is None
        assert [g.id for g in r.gates.all()] == ["G1"]
    with (
        pytest.raises(AlreadyExists, match="gate 'G1' already exists"),
        store.unit_of_work() as uow,
    ):
        uow.gates.register("G1", "elsewhere", actor="admin")


def test_operator_tokens_carry_roles(store: Store) -> None:
    with store.unit_of_work() as uow:
        admin = uow.operators.create(
            "root", list(OperatorRole), actor="bootstrap", token="configured-bootstrap-token"
        )
        clerk = uow.operators.create("clerk", [OperatorRole.ENROL], actor="root")
    assert admin == "configured-bootstrap-token"
    assert len(clerk) >= 43
    with store.read() as r:
        root = r.operators.authenticate("configured-bootstrap-token")
        who = r.operators.authenticate(clerk)
        assert r.operators.authenticate("guess") is None
    assert root is not None
    assert root.roles == frozenset(OperatorRole)
    assert who is not None
    assert (who.id, who.roles) == ("clerk", frozenset({OperatorRole.ENROL}))
    with store.unit_of_work() as uow:
        uow.operators.disable("clerk", actor="root")
    with store.read() as r:
        assert r.operators.authenticate(clerk) is None


def test_concurrent_bootstrap_of_one_operator_creates_it_once(store: Store) -> None:
    barrier = threading.Barrier(4)
    results: list[str] = []

    def bootstrap() -> None:
        barrier.wait()
        try:
            with store.unit_of_work() as uow:
                uow.operators.create("root", [OperatorRole.ADMIN], actor="boot", token="t0k3n")
            results.append("created")
        except AlreadyExists:
            results.append("exists")

    threads = [threading.Thread(target=bootstrap) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["created", "exists", "exists", "exists"]
    with store.read() as r:
        assert r.operators.authenticate("t0k3n") is not None


# -- idempotency ---------------------------------------------------------------------


def decide(record: TransactionRecord) -> object:
    def work(uow: UnitOfWork) -> StoredResponse:
        uow.transactions.save(record, actor=record.gate_id)
        return StoredResponse(200, json.dumps({"id": record.id, "decision": "accept"}))

    return work


def test_a_retry_gets_the_stored_response_and_writes_nothing(store: Store) -> None:
    register_gates(store, "G1")
    first = store.run_idempotent("G1", "key-1", "fp-a", decide(make_transaction("G1", 0)))  # type: ignore[arg-type]
    retry = store.run_idempotent("G1", "key-1", "fp-a", decide(make_transaction("G1", 0)))  # type: ignore[arg-type]
    assert (first.replayed, retry.replayed) == (False, True)
    assert retry.response == first.response
    assert count(store, Transaction) == 1
    other_gate = store.run_idempotent("G2", "key-1", "fp-b", lambda uow: StoredResponse(201, "{}"))
    assert other_gate.replayed is False  # keys are scoped per gate
    with pytest.raises(IdempotencyConflict, match="'key-1' \\(scope 'G1'\\) was already used"):
        store.run_idempotent("G1", "key-1", "fp-other", decide(make_transaction("G1", 1)))  # type: ignore[arg-type]


def test_concurrent_requests_with_one_key_write_one_record(store: Store) -> None:
    register_gates(store, "G1")
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes: list[object] = []
    errors: list[BaseException] = []

    def request(i: int) -> None:
        work = decide(make_transaction("G1", i))
        barrier.wait()
        try:
            outcomes.append(store.run_idempotent("G1", "same-key", "fp", work))  # type: ignore[arg-type]
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert count(store, Transaction) == 1
    assert count(store, IdempotencyRecord) == 1
    responses = {o.response for o in outcomes}  # type: ignore[attr-defined]
    assert len(responses) == 1
    assert sum(not o.replayed for o in outcomes) == 1  # type: ignore[attr-defined]
    with store.read() as r:
        decisions = [e for e in r.audit.entries() if e.action == "decision"]
    assert len(decisions) == 1
    assert store.verify_audit().ok


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_keeps_pool_size_connections_open_after_a_burst(database_url: str) -> None:
    store = Store(database_url, pool_size=7)
    try:
        store.upgrade()
        with contextlib.ExitStack() as burst:
            for _ in range(9):
                burst.enter_context(store.read()).audit.head()  # 9 connections at once
        # 7 kept for the next burst; only the 2 beyond the pool were closed.
        assert store.engine.pool.checkedin() == 7  # type: ignore[attr-defined]
    finally:
        store.close()


def test_idempotency_records_can_be_purged(store: Store) -> None:
    store.run_idempotent("G1", "k", "fp", lambda uow: StoredResponse(200, "{}"))
    with store.unit_of_work() as uow:
        assert uow.idempotency.purge(T0) == 0
        assert uow.idempotency.purge(T0 + timedelta(days=1)) == 1


# -- audit chain under several writer processes ------------------------------------


def test_audit_appends_from_several_processes_form_one_chain(store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=append_audit_records, args=(store.url, w, 15)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    result = store.verify_audit()
    assert result.ok, result.detail
    assert result.records == 45
    assert count(store, AuditRow) == 45


# -- watchlists and manifests ----------------------------------------------------------


def test_watchlist_load_replaces_the_list_and_is_audited(store: Store) -> None:
    with store.unit_of_work() as uow:
        n = uow.watchlists.load_documents(
            "sltd",
            [
                DocumentWatchEntry("UTO", "A1"),
                DocumentWatchEntry("UTO", "A1"),
                DocumentWatchEntry("D", "B2", "lost"),
            ],
            actor="op-w",
        )
        uow.watchlists.load_persons(
            "interpol",
            [
                PersonWatchEntry("DOE", "JOHN", date(1970, 1, 1), "UTO"),
            ],
            actor="op-w",
        )
    assert n == 2
    with store.unit_of_work() as uow:
        uow.watchlists.load_documents("sltd", [DocumentWatchEntry("FRA", "C3")], actor="op-w")
    with store.read() as r:
        assert r.watchlists.documents() == [DocumentWatchEntry("FRA", "C3", "stolen")]
        assert r.watchlists.persons("interpol") == [
            PersonWatchEntry("DOE", "JOHN", date(1970, 1, 1), "UTO", "wanted")
        ]
        loads = [e for e in r.audit.entries() if e.action == AuditAction.WATCHLIST_LOAD.value]
    assert [(e.subject, e.data["entries"]) for e in loads] == [
        ("documents:sltd", 2),
        ("persons:interpol", 1),
        ("documents:sltd", 1),
    ]


def test_manifests_keep_the_raw_edifact(store: Store) -> None:
    raw = "UNA:+.? 'UNB+UNOA:4+AIR+GOV+260301:0800+1'UNZ+1+1'"
    data = ManifestData(
        "XA",
        "123",
        "LHR",
        "UTO",
        T0,
        T0 + timedelta(hours=2),
        2,
        raw,
        {"travellers": [{"surname": "DOE"}, {"surname": "ROE"}]},
    )
    with store.unit_of_work() as uow:
        saved = uow.manifests.save(data, actor="op-w")
    with store.read() as r:
        assert r.manifests.get(saved.id).data == data
        assert [m.id for m in r.manifests.find("XA", "123")] == [saved.id]
        with pytest.raises(NotFound, match="no manifest with id '999'"):
            r.manifests.get(999)


# ---- connection budget ------------------------------------------------------------------


def test_connection_budget_is_checked_against_the_servers_limit(postgres_url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(postgres_url)
    with engine.connect() as c:
        limit = int(c.exec_driver_sql("SHOW max_connections").scalar_one())
        limit -= int(c.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    engine.dispose()
    fits = limit // (5 + MAX_OVERFLOW)
    check_connection_budget(postgres_url, fits, 5)  # exactly within: no error
    with pytest.raises(ConnectionBudgetExceeded) as caught:
        check_connection_budget(postgres_url, fits + 1, 5)
    need = (fits + 1) * (5 + MAX_OVERFLOW)
    assert f"= {need} PostgreSQL connections, but the server accepts {limit}" in str(caught.value)


def test_sqlite_has_no_connection_budget(tmp_path: Path) -> None:
    check_connection_budget(f"sqlite:///{tmp_path / 'e.db'}", 1000, 1000)
    assert not (tmp_path / "e.db").exists()  # nothing was opened
