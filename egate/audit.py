"""The audit trail: an append-only, hash-chained log of every decision, enrolment
change and watchlist load.

Record n carries `prev_hash` = hash of record n-1 (record 1 carries 64 zeros), and
`hash` = SHA-256 over the canonical encoding of all its fields including
`prev_hash`. Changing, removing, inserting or reordering any record therefore
breaks the chain at that record; the store also keeps the chain head (last
sequence number and hash) so that removing records at the tail is caught too.
Someone able to rewrite the whole table *and* the head can forge a consistent
chain; `egate audit verify --anchor SEQ:HASH` checks against a head copied out
earlier (see `egate audit head`).

Payloads are stored as canonical JSON text (sorted keys, no spaces, UTF-8), so
the bytes hashed are the bytes stored: no database JSON normalisation in between.
Audit payloads never carry personal data (names, document numbers): the log is
immutable and must survive an enrolment's erasure.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from egate import EgateError

GENESIS_HASH = "0" * 64
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class AuditAction(enum.Enum):
    """What an audit record says happened."""

    DECISION = "decision"  # a gate transaction reached ACCEPT or REFER
    ENROLMENT_CREATE = "enrolment.create"
    ENROLMENT_UPDATE = "enrolment.update"
    ENROLMENT_ERASE = "enrolment.erase"
    TEMPLATES_REKEY = "templates.rekey"
    WATCHLIST_LOAD = "watchlist.load"
    MANIFEST_LOAD = "manifest.load"
    GATE_REGISTER = "gate.register"
    GATE_KEY_ROTATE = "gate.key_rotate"
    GATE_DISABLE = "gate.disable"
    OPERATOR_CREATE = "operator.create"
    OPERATOR_DISABLE = "operator.disable"


class AuditError(EgateError):
    """Root of the errors raised by `egate.audit`."""

    code = "audit"


class AuditExportError(AuditError):
    """A line of an audit export cannot be read back."""

    code = "audit_export_malformed"

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"audit export line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


class AuditProblem(enum.Enum):
    """Why a chain failed verification."""

    ALTERED = "altered"  # a record's hash does not match its contents
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous record's hash
    MISSING = "missing"  # a sequence number was skipped (record removed)
    OUT_OF_ORDER = "out_of_order"  # a sequence number repeats or goes backwards
    HEAD_MISMATCH = "head_mismatch"  # the chain does not end where the head says
    ANCHOR_MISMATCH = "anchor_mismatch"  # the record at an anchor has another hash


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record as stored. `action` is the stored text (an `AuditAction`
    value when written by this code; kept as text so a tampered value is reported,
    not crashed on); `payload` is canonical JSON text; `at` is UTC."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> Any:
        """The payload, parsed."""
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a chain: its sequence number (0 when empty) and hash."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Parse `SEQ:HASH`, the form `egate audit head` prints."""
        seq, sep, digest = text.partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise ValueError(f"expected SEQ:HASH (64 hex digits), got {text!r}")
        return cls(int(seq), digest.lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The verdict on a chain: `ok`, how many records were checked, and for a broken
    chain the first bad sequence number and why."""

    ok: bool
    records: int
    head: ChainHead
    first_bad_seq: int | None = None
    problem: AuditProblem | None = None
    detail: str = ""


def canonical_payload(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of a payload (sorted keys, no whitespace, no NaN)."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_timestamp(at: datetime) -> str:
    """UTC, microseconds, `Z` suffix: the one spelling of a time that is hashed."""
    if at.tzinfo is None:
        raise ValueError(f"audit timestamps must be timezone-aware, got {at!r}")
    # isoformat is C-fast; "+00:00" -> "Z" gives exactly _TS_FORMAT.
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def record_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> str:
    """SHA-256 (hex) over the canonical encoding of a record: a JSON array of its
    fields in a fixed order, so no two different records encode alike."""
    fields = [seq, format_timestamp(at), actor, action, subject, payload, prev_hash]
    encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def seal(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> AuditEntry:
    """Build the record that follows `prev_hash`, with its hash."""
    digest = record_hash(seq, at, actor, action, subject, payload, prev_hash)
    return AuditEntry(seq, at, actor, action, subject, payload, prev_hash, digest)


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    head: ChainHead | None = None,
    anchor: ChainHead | None = None,
) -> AuditVerification:
    """Walk `entries` in the order given (by sequence number, as stored) and report the
    first record that is altered, missing, out of order or wrongly linked.

    `head` is the store's record of the last record (catches removal at the tail);
    `anchor` a head copied out earlier (catches a rewritten chain up to that point).
    Streams: memory does not grow with the chain.
    """
    count, prev = 0, ChainHead(0, GENESIS_HASH)
    anchor_seen = anchor is None or anchor.seq == 0
    for entry in entries:
        expected = prev.seq + 1
        if entry.seq != expected:
            problem = AuditProblem.MISSING if entry.seq > expected else AuditProblem.OUT_OF_ORDER
            detail = f"expected record {expected}, found record {entry.seq}"
            return AuditVerification(False, count, prev, expected, problem, detail)
        if (
            record_hash(
                entry.seq,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject,
                entry.payload,
                entry.prev_hash,
            )
            != entry.hash
        ):
            detail = f"record {entry.seq}: stored hash does not match its contents"
            return AuditVerification(False, count, prev, entry.seq, AuditProblem.ALTERED, detail)
        if entry.prev_hash != prev.hash:
            detail = f"record {entry.seq}: prev_hash does not match record {prev.seq}"
            return AuditVerification(
                False, count, prev, entry.seq, AuditProblem.BROKEN_LINK, detail
            )
        if anchor is not None and entry.seq == anchor.seq:
            if entry.hash != anchor.hash:
                detail = f"record {entry.seq}: hash differs from the anchor {anchor}"
                return AuditVerification(
                    False, count, prev, entry.seq, AuditProblem.ANCHOR_MISMATCH, detail
                )
            anchor_seen = True
        count, prev = count + 1, ChainHead(entry.seq, entry.hash)
    if not anchor_seen and anchor is not None:
        detail = f"the chain ends at record {prev.seq}, before the anchor {anchor}"
        return AuditVerification(False, count, prev, prev.seq + 1, AuditProblem.MISSING, detail)
    if head is not None and head != prev:
        first_bad = min(head.seq, prev.seq) + 1 if head.seq != prev.seq else prev.seq
        detail = f"the chain ends at {prev}, the recorded head is {head}"
        return AuditVerification(False, count, prev, first_bad, AuditProblem.HEAD_MISMATCH, detail)
    return AuditVerification(True, count, prev)


# -- JSON lines export -------------------------------------------------------------------


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    """One export line (before `json.dumps`); `payload` stays the exact hashed text."""
    return {
        "seq": entry.seq,
        "at": format_timestamp(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def write_jsonl(entries: Iterable[AuditEntry], stream: IO[str]) -> int:
    """Write one JSON object per line; returns the number of records written."""
    count = 0
    for entry in entries:
        stream.write(json.dumps(entry_to_json(entry), ensure_ascii=False, sort_keys=True))
        stream.write("\n")
        count += 1
    return count


def read_jsonl(stream: IO[str]) -> Iterator[AuditEntry]:
    """Read back an export written by `write_jsonl`, line by line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            yield AuditEntry(
                seq=int(raw["seq"]),
                at=parse_timestamp(raw["at"]),
                actor=str(raw["actor"]),
                action=str(raw["action"]),
                subject=str(raw["subject"]),
                payload=str(raw["payload"]),
                prev_hash=str(raw["prev_hash"]),
                hash=str(raw["hash"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditExportError(number, f"{type(exc).__name__}: {exc}") from exc
