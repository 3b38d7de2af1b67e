"""egate.mrz against an independent implementation: PyPI `mrz` (a dev dependency);
skipped when it is not installed."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_mrz import ALNUM, TD3, TODAY, documents

from egate.documents import DocumentType, TravelDocument
from egate.mrz import MrzCheckDigitError, check_digit, format_mrz, parse_mrz

peer_functions = pytest.importorskip("mrz.base.functions")
peer_checkers = {
    DocumentType.TD1: pytest.importorskip("mrz.checker.td1").TD1CodeChecker,
    DocumentType.TD2: pytest.importorskip("mrz.checker.td2").TD2CodeChecker,
    DocumentType.TD3: pytest.importorskip("mrz.checker.td3").TD3CodeChecker,
    DocumentType.MRV_A: pytest.importorskip("mrz.checker.mrva").MRVACodeChecker,
    DocumentType.MRV_B: pytest.importorskip("mrz.checker.mrvb").MRVBCodeChecker,
}


@given(st.text(ALNUM, max_size=40))
def test_check_digit_agrees_with_the_peer(s: str) -> None:
    assert str(check_digit(s)) == peer_functions.hash_string(s)


@given(documents())
def test_the_peer_finds_every_digit_we_write_correct(doc: TravelDocument) -> None:
    """The peer knows no document-number overflow (Doc 9303 parts 5/6), so long
    numbers are left out; its country and name checks are not ours to compare."""
    if len(doc.number) > 9:
        doc = dataclasses.replace(doc, number=doc.number[:9])
    report = peer_checkers[doc.format](format_mrz(doc)).report
    assert [e for e in report.errors if "hash" in e] == []


def test_the_peer_rejects_what_we_reject() -> None:
    corrupted = TD3.replace("7408122F", "7408123F")
    with pytest.raises(MrzCheckDigitError):
        parse_mrz(corrupted, today=TODAY)
    assert "false birth date hash" in peer_checkers[DocumentType.TD3](corrupted).report.errors
