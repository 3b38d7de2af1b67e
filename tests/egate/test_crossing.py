"""Whole crossings on real parts: a chip built and signed with a test CSCA around a real
photograph, the ONNX embedder, real watchlists, and live captures from ../shared/faces."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chipbuilder
import pytest

from biometrics.embedding import OnnxEmbedder
from biometrics.pipeline import FaceProcessor
from biometrics.quality import QualityPolicy
from egate.checks import StandardDocumentChecks, WatchlistScreening
from egate.crossing import Crossing, DocumentRead, Embeddings
from egate.csca import CscaStore
from egate.documents import DocumentType, Sex, TravelDocument
from egate.faces import BiometricFaceVerifier
from egate.gate import (
    CaptureFinding,
    DocumentFinding,
    ReferralReason,
    ScreeningFinding,
    State,
)
from egate.mrz import format_mrz
from egate.policy import EligibilityFinding, GatePolicy
from egate.watchlist import DocumentWatchlist, PersonEntry, PersonWatchlist, SltdStatus

HOLDER = TravelDocument(
    format=DocumentType.TD3, code="P", issuer="USA", number="X12345678", surname="OBAMA",
    given_names="BARACK HUSSEIN", nationality="USA", birth_date=date(1961, 8, 4),
    sex=Sex.MALE, expiry_date=date(2031, 3, 1),
)  # fmt: skip


class Clock:
    """Advances one second per reading, so every step has its own time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class NotEnrolled:
    def templates(self, document: TravelDocument) -> Embeddings | None:
        return None


@pytest.fixture(scope="module")
def csca() -> chipbuilder.Signer:
    return chipbuilder.make_csca()


@pytest.fixture(scope="module")
def verifier() -> BiometricFaceVerifier:
    embedder = OnnxEmbedder()
    # The live frames here are ordinary photographs, not a gate camera's: judge them with
    # the photo policy so the test is about the crossing, not about camera distance.
    photo = FaceProcessor(embedder, QualityPolicy.photo())
    return BiometricFaceVerifier(photo, photo)


def chip_read(
    faces_root: Path, csca: chipbuilder.Signer, document: TravelDocument = HOLDER, **kw: object
) -> DocumentRead:
    portrait = (faces_root / "people/obama/obama.jpg").read_bytes()
    signer = chipbuilder.make_ds(csca)
    chip_mrz = format_mrz(kw.pop("chip_document", document))  # type: ignore[arg-type]
    chip = chipbuilder.build_chip(chip_mrz, portrait, 640, 480, signer)
    return DocumentRead(document, dg1=chip.dg1, dg2=chip.dg2, sod=chip.sod)


def crossing(
    verifier: BiometricFaceVerifier,
    csca: chipbuilder.Signer | None,
    *,
    policy: GatePolicy | None = None,
    sltd: DocumentWatchlist | None = None,
    persons: PersonWatchlist | None = None,
) -> Crossing:
    store = CscaStore([csca.cert]) if csca is not None else CscaStore()
    return Crossing(
        policy=policy or GatePolicy(),
        document_checks=StandardDocumentChecks(store),
        screening=WatchlistScreening(
            documents=sltd or DocumentWatchlist(), persons=persons or PersonWatchlist()
        ),
        enrolments=NotEnrolled(),
        faces=verifier,
        clock=Clock(),
    )


@pytest.fixture
def live(faces_root: Path) -> dict[str, bytes]:
    return {
        "obama": (faces_root / "people/obama/obama2.jpg").read_bytes(),
        "biden": (faces_root / "people/biden/biden2.jpg").read_bytes(),
        "two": (faces_root / "group/two_people.jpg").read_bytes(),
    }


def test_holder_matching_the_chip_portrait_is_accepted(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier,
    live: dict[str, bytes],
) -> None:  # fmt: skip
    gate = crossing(verifier, csca)
    opened = gate.open("t1", "g1", chip_read(faces_root, csca))
    assert opened.transaction.state is State.CAPTURING
    assert opened.references.shape == (1, 128)
    txn = gate.capture(opened.transaction, live["obama"], opened.references)
    assert txn.state is State.ACCEPTED
    assert txn.steps[-1].distance is not None
    assert txn.steps[-1].distance < 0.6


def test_impostor_is_referred_for_no_match_after_the_attempts(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier,
    live: dict[str, bytes],
) -> None:  # fmt: skip
    gate = crossing(verifier, csca, policy=GatePolicy(max_attempts=2))
    opened = gate.open("t2", "g1", chip_read(faces_root, csca))
    txn = opened.transaction
    for _ in range(2):
        txn = gate.capture(txn, live["biden"], opened.references)
    assert txn.state is State.REFERRED
    assert txn.outcome is not None
    assert txn.outcome.referral is not None
    assert txn.outcome.referral.reason is ReferralReason.NO_MATCH
    assert all(s.distance is not None and s.distance > 0.6 for s in txn.steps[-2:])


def test_two_people_in_front_of_the_camera_is_a_quality_failure(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier,
    live: dict[str, bytes],
) -> None:  # fmt: skip
    gate = crossing(verifier, csca)
    opened = gate.open("t3", "g1", chip_read(faces_root, csca))
    txn = gate.capture(opened.transaction, live["two"], opened.references)
    assert txn.state is State.CAPTURING
    assert txn.steps[-1].findings[0].code is CaptureFinding.POOR_QUALITY


def test_chip_signed_outside_the_csca_list_is_refused(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier
) -> None:
    gate = crossing(verifier, chipbuilder.make_csca(name="CSCA Elsewhere"))
    txn = gate.open("t4", "g1", chip_read(faces_root, csca)).transaction
    assert txn.outcome is not None
    assert txn.outcome.referral is not None
    assert txn.outcome.referral.reason is ReferralReason.DOCUMENT
    codes = {f.code for f in txn.outcome.referral.findings}
    assert codes == {DocumentFinding.CHIP_INVALID}
    assert "unknown_csca" in txn.outcome.referral.findings[0].detail


def test_chip_whose_dg1_differs_from_the_printed_mrz_is_refused(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier
) -> None:
    forged = replace(HOLDER, number="X99999999")
    read = chip_read(faces_root, csca, chip_document=forged)
    txn = crossing(verifier, csca).open("t5", "g1", read).transaction
    assert txn.outcome is not None
    assert txn.outcome.referral is not None
    assert [f.code for f in txn.outcome.referral.findings] == [DocumentFinding.DG1_MRZ_MISMATCH]


def test_expired_document_is_refused_before_the_chip_portrait_is_used(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier
) -> None:
    expired = replace(HOLDER, expiry_date=date(2025, 1, 1))
    txn = crossing(verifier, csca).open("t6", "g1", chip_read(faces_root, csca, expired))
    assert txn.transaction.outcome is not None
    assert txn.transaction.outcome.referral is not None
    assert txn.transaction.outcome.referral.reason is ReferralReason.DOCUMENT
    assert txn.references.shape == (0, 128)


def test_stolen_document_and_watched_person_are_referred_for_the_watchlist(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier
) -> None:
    sltd = DocumentWatchlist()
    sltd.add("USA", "X12345678", SltdStatus.STOLEN)
    persons = PersonWatchlist([PersonEntry("W-1", "Obama", "Barack", date(1961, 8, 4))])
    txn = crossing(verifier, csca, sltd=sltd, persons=persons).open(
        "t7", "g1", chip_read(faces_root, csca)
    )
    outcome = txn.transaction.outcome
    assert outcome is not None
    assert outcome.referral is not None
    assert outcome.referral.reason is ReferralReason.WATCHLIST
    assert [f.code for f in outcome.referral.findings] == [
        ScreeningFinding.SLTD_HIT,
        ScreeningFinding.PERSON_WATCHLIST_HIT,
    ]
    assert "entry W-1" in outcome.referral.findings[1].detail


def test_child_and_document_without_chip_go_to_a_desk(
    faces_root: Path, csca: chipbuilder.Signer, verifier: BiometricFaceVerifier
) -> None:
    child = replace(HOLDER, birth_date=date(2019, 1, 1))
    txn = crossing(verifier, csca).open("t8", "g1", chip_read(faces_root, csca, child))
    assert txn.transaction.outcome is not None
    assert txn.transaction.outcome.referral is not None
    assert [f.code for f in txn.transaction.outcome.referral.findings] == [
        EligibilityFinding.UNDER_MINIMUM_AGE
    ]
    no_chip = crossing(verifier, csca).open("t9", "g1", DocumentRead(HOLDER)).transaction
    assert no_chip.outcome is not None
    assert no_chip.outcome.referral is not None
    assert no_chip.outcome.referral.reason is ReferralReason.ELIGIBILITY
    assert no_chip.outcome.referral.findings[0].code is DocumentFinding.CHIP_NOT_READ
