from __future__ import annotations

from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from egate.documents import DocumentType, Sex, TravelDocument
from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestTraveller,
    TravellerRole,
)
from egate.paxlst import parse_paxlst, write_paxlst
from egate.reconciliation import CrossingRecord, MatchBasis, reconcile


def _traveller(surname: str, given: str, number: str, birth: date) -> ManifestTraveller:
    return ManifestTraveller(
        role=TravellerRole.PASSENGER,
        surname=surname,
        given_names=given,
        sex=Sex.UNSPECIFIED,
        birth_date=birth,
        nationality="DEU",
        documents=(ManifestDocument(DocumentCode.PASSPORT, number, "D", date(2030, 1, 1)),),
    )


def _manifest(*travellers: ManifestTraveller) -> Manifest:
    return Manifest(
        flight="LH900",
        carrier="LH",
        departure_airport="FRA",
        arrival_airport="LHR",
        departure_time=datetime(2026, 11, 21, 7, 0),
        arrival_time=datetime(2026, 11, 21, 7, 45),
        travellers=travellers,
    )


MUELLER = _traveller("MÜLLER", "ANNA", "C01X00T47", date(1980, 1, 2))
SCHMIDT = _traveller("SCHMIDT", "KARL HEINZ", "C01X00T48", date(1975, 3, 4))
WEBER = _traveller("WEBER", "EVA", "C01X00T49", date(1990, 5, 6))
AT = datetime(2026, 11, 21, 8, 3)


def test_three_groups() -> None:
    manifest = _manifest(MUELLER, SCHMIDT, WEBER)
    crossings = [
        CrossingRecord("D<<", "C01X00T47", "MUELLER", "ANNA", date(1980, 1, 2), AT, "gate 3"),
        # Karl Heinz travelled on his identity card, not the passport announced.
        CrossingRecord("D<<", "L01X00T47", "SCHMIDT", "HEINZ KARL", date(1975, 3, 4), AT, "desk 1"),
        CrossingRecord("GBR", "123456789", "SMITH", "JOHN", date(1970, 1, 1), AT, "gate 1"),
    ]
    result = reconcile(manifest, crossings)
    assert [(m.traveller, m.crossing, m.basis) for m in result.crossed_on_manifest] == [
        (MUELLER, crossings[0], MatchBasis.DOCUMENT),
        (SCHMIDT, crossings[1], MatchBasis.NAME_AND_BIRTH_DATE),
    ]
    assert result.manifest_not_crossed == (WEBER,)
    assert result.crossed_not_on_manifest == (crossings[2],)


def test_same_name_other_birth_date_is_not_a_match() -> None:
    crossing = CrossingRecord("AUT", "P999", "WEBER", "EVA", date(1991, 5, 6))
    result = reconcile(_manifest(WEBER), [crossing])
    assert result.crossed_on_manifest == ()
    assert result.manifest_not_crossed == (WEBER,)
    assert result.crossed_not_on_manifest == (crossing,)


def test_a_traveller_is_matched_once() -> None:
    read = TravelDocument(
        format=DocumentType.TD3,
        code="P",
        issuer="D<<",
        number="C01X00T49",
        surname="WEBER",
        given_names="EVA",
        nationality="D<<",
        birth_date=date(1990, 5, 6),
        sex=Sex.FEMALE,
        expiry_date=date(2030, 1, 1),
    )
    twice = [CrossingRecord.from_document(read, AT), CrossingRecord.from_document(read, AT)]
    result = reconcile(_manifest(WEBER), twice)
    assert len(result.crossed_on_manifest) == 1
    assert result.crossed_not_on_manifest == (twice[1],)


@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(0, 5))
def test_groups_partition_travellers_and_crossings(crossed: list[bool], strangers: int) -> None:
    travellers = [
        _traveller("PAX", f"N{i}", f"X{i:07d}", date(1980, 1, 1 + i % 28))
        for i in range(len(crossed))
    ]
    manifest = parse_paxlst(write_paxlst(_manifest(*travellers))[0])
    crossings = [
        CrossingRecord("D", f"X{i:07d}", "PAX", f"N{i}", date(1980, 1, 1 + i % 28))
        for i, did in enumerate(crossed)
        if did
    ] + [CrossingRecord("FRA", f"S{i}", "OTHER", "X", None) for i in range(strangers)]
    result = reconcile(manifest, crossings)
    assert len(result.crossed_on_manifest) == sum(crossed)
    assert len(result.manifest_not_crossed) == len(crossed) - sum(crossed)
    assert len(result.crossed_not_on_manifest) == strangers
    assert all(m.basis is MatchBasis.DOCUMENT for m in result.crossed_on_manifest)
