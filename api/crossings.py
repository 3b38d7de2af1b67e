"""Composes `egate.crossing.Crossing` for one request, and keeps a transaction between
requests (any worker may take the next request of a gate).

Face inference is NOT done here: the route has already run the images through the
batched pool (`api.inference`), so `PrecomputedFaces` hands the crossing captures that
exist. The reference embeddings of an open transaction are sealed with the template
keyring (AAD = transaction id) inside the stored snapshot: templates at rest are
always encrypted.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from api.screening import Lists
from biometrics.pipeline import Capture
from egate import faces
from egate.checks import StandardDocumentChecks, WatchlistScreening
from egate.crossing import Crossing, Embeddings
from egate.crypto import EncryptedTemplate, TemplateKeyring, decrypt_template, encrypt_template
from egate.csca import CscaStore
from egate.enrolment import StoreEnrolmentLookup
from egate.gate import CaptureOutcome, GateTransaction
from egate.policy import GatePolicy
from egate.store import TransactionRecord, UnitOfWork
from egate.watchlist import FaceWatchlist


@dataclass(frozen=True)
class PrecomputedFaces:
    """The crossing's `FaceVerifier` over captures the pool already computed; the
    conversion to the gate's terms is egate's (`egate.faces`)."""

    portrait: Capture | None = None
    live: Capture | None = None
    watchlist: FaceWatchlist | None = None

    def portrait_embedding(self, portrait: bytes) -> Embeddings | None:
        return None if self.portrait is None else faces.portrait_embedding(self.portrait)

    def compare(self, capture: bytes, references: Embeddings) -> CaptureOutcome:
        if self.live is None:
            raise ValueError("no live capture was computed for this request")
        return faces.capture_outcome(self.live, references, watchlist=self.watchlist)


def build_crossing(
    uow: UnitOfWork,
    policy: GatePolicy,
    precomputed: PrecomputedFaces,
    lists: Lists,
    csca: CscaStore,
    clock: Callable[[], datetime],
) -> Crossing:
    return Crossing(
        policy=policy,
        document_checks=StandardDocumentChecks(csca),
        screening=WatchlistScreening(documents=lists.documents, persons=lists.persons),
        enrolments=StoreEnrolmentLookup(uow),
        faces=precomputed,
        clock=clock,
    )


# -- keeping a transaction between requests ----------------------------------------------


def to_record(
    txn: GateTransaction, references: npt.NDArray[np.float32], keyring: TemplateKeyring
) -> TransactionRecord:
    outcome = txn.outcome
    referral = outcome.referral if outcome else None
    snapshot = {
        "transaction": txn.as_json(),
        "references": [] if txn.state.terminal else _seal(references, keyring, txn.transaction_id),
    }
    return TransactionRecord(
        id=txn.transaction_id,
        gate_id=txn.gate_id,
        opened_at=txn.opened_at,
        state=txn.state,
        attempts=txn.attempts,
        steps=[s.as_json() for s in txn.steps],
        closed_at=outcome.decided_at if outcome else None,
        decision=outcome.decision if outcome else None,
        referral_reason=referral.reason if referral else None,
        referral_detail="; ".join(f.code.value for f in referral.findings) if referral else None,
        document_issuer=txn.document.issuer,
        document_number=txn.document.number,
        snapshot=snapshot,
    )


def from_record(
    record: TransactionRecord, policy: GatePolicy, keyring: TemplateKeyring
) -> tuple[GateTransaction, npt.NDArray[np.float32]]:
    if record.snapshot is None:
        raise ValueError(f"transaction {record.id} was stored without a snapshot")
    txn = GateTransaction.from_json(record.snapshot["transaction"], policy)
    references = _unseal(record.snapshot.get("references", []), keyring, record.id)
    return txn, references


def _seal(
    refs: npt.NDArray[np.float32], keyring: TemplateKeyring, txn_id: str
) -> list[dict[str, str]]:
    out = []
    for vector in refs:
        sealed = encrypt_template(keyring, vector, associated_data=txn_id.encode())
        out.append(
            {
                "key_id": sealed.key_id,
                "nonce": base64.b64encode(sealed.nonce).decode(),
                "ciphertext": base64.b64encode(sealed.ciphertext).decode(),
            }
        )
    return out


def _unseal(
    items: list[dict[str, str]], keyring: TemplateKeyring, txn_id: str
) -> npt.NDArray[np.float32]:
    vectors = [
        decrypt_template(
            keyring,
            EncryptedTemplate(
                item["key_id"],
                base64.b64decode(item["nonce"]),
                base64.b64decode(item["ciphertext"]),
            ),
            associated_data=txn_id.encode(),
        )
        for item in items
    ]
    return np.stack(vectors) if vectors else np.zeros((0, 128), np.float32)
