"""One crossing, end to end: runs the checks around a `GateTransaction`.

The checks are collaborators passed in (ports), so the gate logic is tested with real
implementations of each and the API composes the production ones:

- `DocumentChecks`: expiry, chip passive authentication, DG1 == printed MRZ.
- `Screening`: APIS manifest, stolen/lost documents, person and face watchlists.
- `EnrolmentLookup`: is the holder enrolled, and with which templates.
- `FaceVerifier`: reference embeddings from the chip portrait, and live captures
  compared against them (quality gate first).

`Crossing` is stateless between calls: the transaction and its reference embeddings
are returned to the caller, who stores them (the API keeps them in the database so any
worker can take the next request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from egate.documents import TravelDocument
from egate.gate import (
    CaptureOutcome,
    DocumentFinding,
    Finding,
    GateTransaction,
)
from egate.policy import GatePolicy, eligibility_findings

Embeddings = npt.NDArray[np.float32]  # (R, 128) float32, dlib's raw (unnormalised) embeddings


@dataclass(frozen=True, slots=True)
class DocumentRead:
    """What the gate's reader delivered: the document parsed from the printed MRZ and,
    when the chip was read, its raw data groups (DG1, DG2 and the SOD)."""

    document: TravelDocument
    dg1: bytes | None = None
    dg2: bytes | None = None
    sod: bytes | None = None

    @property
    def chip_read(self) -> bool:
        return self.dg1 is not None and self.sod is not None


class DocumentChecks(Protocol):
    def __call__(self, read: DocumentRead, now: datetime) -> Sequence[Finding]: ...


class Screening(Protocol):
    def __call__(self, document: TravelDocument) -> Sequence[Finding]: ...


class EnrolmentLookup(Protocol):
    def templates(self, document: TravelDocument) -> Embeddings | None:
        """The holder's enrolled templates (R, 128), or None when not enrolled."""
        ...


class FaceVerifier(Protocol):
    def portrait_embedding(self, dg2: bytes) -> Embeddings | None:
        """The embedding (1, 128) of the portrait in the chip's DG2, or None when DG2
        holds no usable face."""
        ...

    def compare(self, capture: bytes, references: Embeddings) -> CaptureOutcome:
        """Quality-check one live capture and measure its distance to the nearest reference."""
        ...


@dataclass(frozen=True, slots=True)
class Opened:
    transaction: GateTransaction
    references: Embeddings  # (R, 128); empty when the transaction was referred before capture


class Crossing:
    """Runs one gate's transactions under `policy`; `clock` returns aware datetimes."""

    def __init__(
        self,
        *,
        policy: GatePolicy,
        document_checks: DocumentChecks,
        screening: Screening,
        enrolments: EnrolmentLookup,
        faces: FaceVerifier,
        clock: Callable[[], datetime],
    ) -> None:
        self.policy = policy
        self._document_checks = document_checks
        self._screening = screening
        self._enrolments = enrolments
        self._faces = faces
        self._clock = clock

    def open(self, transaction_id: str, gate_id: str, read: DocumentRead) -> Opened:
        """Document checks, screening and eligibility, in that order, stopping at the
        first referral. The references are the enrolled templates plus the chip portrait."""
        txn = GateTransaction(transaction_id, gate_id, read.document, self.policy, self._clock())
        findings = list(self._document_checks(read, self._clock()))
        if self.policy.require_chip and not read.chip_read:
            findings.append(Finding(DocumentFinding.CHIP_NOT_READ, "the policy requires the chip"))
        portrait = None
        if read.dg2 is not None and not findings:
            portrait = self._faces.portrait_embedding(read.dg2)
            if portrait is None:
                findings.append(Finding(DocumentFinding.CHIP_PORTRAIT_UNUSABLE))
        empty = np.zeros((0, 128), np.float32)
        if txn.record_document_check(findings, self._clock()).terminal:
            return Opened(txn, empty)
        if txn.record_screening(self._screening(read.document), self._clock()).terminal:
            return Opened(txn, empty)
        enrolled = self._enrolments.templates(read.document)
        eligibility = eligibility_findings(
            self.policy, read.document, enrolled=enrolled is not None, today=self._clock().date()
        )
        references = _stack(enrolled, portrait)
        findings = [Finding(code) for code in eligibility]
        if not findings and len(references) == 0:
            # Eligible, but there is nothing to compare a live face with: an officer decides.
            reason = "no chip portrait and no enrolment to compare the live face with"
            findings.append(Finding(DocumentFinding.CHIP_NOT_READ, reason))
        if txn.record_eligibility(findings, self._clock()).terminal:
            return Opened(txn, empty)
        return Opened(txn, references)

    def capture(
        self, txn: GateTransaction, image: bytes, references: Embeddings
    ) -> GateTransaction:
        """One live capture against the references stored at `open`."""
        if txn.expire(self._clock()):
            return txn
        outcome = self._faces.compare(image, references)
        txn.record_capture(outcome, self._clock())
        return txn


def _stack(enrolled: Embeddings | None, portrait: Embeddings | None) -> Embeddings:
    parts = [p for p in (enrolled, portrait) if p is not None and len(p)]
    if not parts:
        return np.zeros((0, 128), np.float32)
    return np.ascontiguousarray(np.concatenate(parts).astype(np.float32, copy=False))
