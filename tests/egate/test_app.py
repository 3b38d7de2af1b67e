from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from egate.app import (
    AppReasonCode,
    AppResult,
    AppRules,
    AppRulesError,
    AppVerdict,
    CusresError,
    check_traveller,
    parse_cusres,
    write_cusres,
)
from egate.documents import Sex, TravelDocument
from egate.edifact import parse_interchange
from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestTraveller,
    TravellerRole,
)
from egate.mrz import parse_mrz
from egate.watchlist import DocumentWatchlist, PersonEntry, PersonWatchlist, SltdStatus

TODAY = date(2026, 11, 21)
SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
RULES = AppRules(state="GBR", visa_nationalities=frozenset({"UTO"}), min_validity_days=30)
FLIGHT = Manifest(
    flight="BA123",
    carrier="BA",
    departure_airport="JFK",
    arrival_airport="LHR",
    departure_time=datetime(2026, 11, 21, 18, 0),
    arrival_time=datetime(2026, 11, 22, 6, 5),
    travellers=(),
)


def _traveller(**changes: object) -> ManifestTraveller:
    base = ManifestTraveller(
        role=TravellerRole.PASSENGER,
        surname="DOE",
        given_names="JANE",
        sex=Sex.FEMALE,
        birth_date=date(1985, 2, 3),
        nationality="FRA",
        documents=(ManifestDocument(DocumentCode.PASSPORT, "12AB34567", "FRA", date(2030, 1, 1)),),
        pnr="XYZ789",
        reference="P42",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def sltd() -> DocumentWatchlist:
    watch = DocumentWatchlist()
    watch.add("FRA", "99ZZ99999", SltdStatus.STOLEN)
    return watch


@pytest.fixture
def persons() -> PersonWatchlist:
    return PersonWatchlist([PersonEntry("W9", "Dœ-Smith", "Jöhn", birth_date=date(1970, 5, 6))])


def _check(
    traveller: ManifestTraveller | TravelDocument,
    sltd: DocumentWatchlist,
    persons: PersonWatchlist,
    arrival: date | None = None,
) -> AppResult:
    return check_traveller(
        traveller, sltd=sltd, persons=persons, rules=RULES, today=TODAY, arrival=arrival
    )


def _codes(result: AppResult) -> list[AppReasonCode]:
    return [r.code for r in result.reasons]


def test_clean_traveller_boards(sltd: DocumentWatchlist, persons: PersonWatchlist) -> None:
    result = _check(_traveller(), sltd, persons)
    assert (result.verdict, result.reasons) == (AppVerdict.BOARD, ())


def test_expired_specimen_from_the_mrz_is_no_board(
    sltd: DocumentWatchlist, persons: PersonWatchlist
) -> None:
    result = _check(parse_mrz(SPECIMEN, today=TODAY), sltd, persons)
    assert result.verdict is AppVerdict.NO_BOARD
    # UTO nationals need a visa; the specimen passport expired in 2012.
    assert _codes(result) == [AppReasonCode.DOCUMENT_EXPIRED, AppReasonCode.VISA_MISSING]
    assert result.reasons[0].detail == "expired 2012-04-15"


def test_validity_must_outlast_arrival(sltd: DocumentWatchlist, persons: PersonWatchlist) -> None:
    short = _traveller(
        documents=(ManifestDocument(DocumentCode.PASSPORT, "12AB34567", "FRA", date(2026, 12, 10)),)
    )
    result = _check(short, sltd, persons, arrival=date(2026, 11, 22))
    assert _codes(result) == [AppReasonCode.VALIDITY_TOO_SHORT]
    assert result.reasons[0].detail == "valid until 2026-12-10, 30 days required"
    assert result.verdict is AppVerdict.NO_BOARD


def test_sltd_hit_is_no_board(sltd: DocumentWatchlist, persons: PersonWatchlist) -> None:
    stolen = _traveller(
        documents=(ManifestDocument(DocumentCode.PASSPORT, "99ZZ99999", "FRA", date(2030, 1, 1)),)
    )
    result = _check(stolen, sltd, persons)
    assert (result.verdict, _codes(result)) == (AppVerdict.NO_BOARD, [AppReasonCode.SLTD_HIT])
    assert result.sltd is not None
    assert result.sltd.status is SltdStatus.STOLEN


def test_visa_rules(sltd: DocumentWatchlist, persons: PersonWatchlist) -> None:
    national = _traveller(nationality="UTO")
    assert _codes(_check(national, sltd, persons)) == [AppReasonCode.VISA_MISSING]
    passport = national.documents[0]
    good_visa = ManifestDocument(DocumentCode.VISA, "V1", "GBR", date(2027, 1, 1))
    assert _check(replace(national, documents=(passport, good_visa)), sltd, persons).verdict is (
        AppVerdict.BOARD
    )
    for bad in (replace(good_visa, issuer="USA"), replace(good_visa, expiry_date=date(2026, 1, 1))):
        result = _check(replace(national, documents=(passport, bad)), sltd, persons)
        assert _codes(result) == [AppReasonCode.VISA_MISSING]


def test_document_not_accepted_or_missing(
    sltd: DocumentWatchlist, persons: PersonWatchlist
) -> None:
    military = _traveller(
        documents=(ManifestDocument(DocumentCode.MILITARY_ID, "M1", "FRA", date(2030, 1, 1)),)
    )
    assert _codes(_check(military, sltd, persons)) == [AppReasonCode.DOCUMENT_NOT_ACCEPTED]
    result = _check(_traveller(documents=()), sltd, persons)
    assert (result.verdict, _codes(result)) == (AppVerdict.NO_BOARD, [AppReasonCode.NO_DOCUMENT])


def test_watchlist_hit_is_contact_authority_even_with_document_problems(
    sltd: DocumentWatchlist, persons: PersonWatchlist
) -> None:
    wanted = _traveller(surname="DOE SMITH", given_names="JOEHN", birth_date=date(1970, 5, 6))
    result = _check(wanted, sltd, persons)
    assert result.verdict is AppVerdict.CONTACT_AUTHORITY
    assert _codes(result) == [AppReasonCode.WATCHLIST_HIT]
    assert result.watchlist[0].entry.id == "W9"
    expired = replace(
        wanted,
        documents=(ManifestDocument(DocumentCode.PASSPORT, "1", "FRA", date(2020, 1, 1)),),
    )
    result = _check(expired, sltd, persons)
    assert result.verdict is AppVerdict.CONTACT_AUTHORITY
    assert _codes(result) == [AppReasonCode.DOCUMENT_EXPIRED, AppReasonCode.WATCHLIST_HIT]


def test_missing_data_is_contact_authority(
    sltd: DocumentWatchlist, persons: PersonWatchlist
) -> None:
    result = _check(_traveller(birth_date=None, nationality=None), sltd, persons)
    assert result.verdict is AppVerdict.CONTACT_AUTHORITY
    assert [r.detail for r in result.reasons] == ["birth date", "nationality"]


def test_rules_are_validated() -> None:
    with pytest.raises(AppRulesError, match="min_validity_days -1 must be >= 0") as info:
        AppRules(min_validity_days=-1)
    assert info.value.code == "app_rules_invalid"
    with pytest.raises(AppRulesError, match="state code 'uto' must be 1-3 upper-case letters"):
        AppRules(visa_nationalities=frozenset({"uto"}))
    assert AppRules(state="D<<").state == "D<<"


# --- CUSRES --------------------------------------------------------------------

PREPARED = datetime(2026, 11, 21, 16, 2)


def test_cusres_board(sltd: DocumentWatchlist, persons: PersonWatchlist) -> None:
    traveller = _traveller()
    text = write_cusres(_check(traveller, sltd, persons), traveller, FLIGHT, prepared=PREPARED)
    assert text == (
        "UNA:+.? 'UNB+UNOA:4+EGATE+CARRIER+20261121:1602+1'"
        "UNG+CUSRES+EGATE+CARRIER+20261121:1602+1+UN+D:05B'"
        "UNH+1+CUSRES:D:05B:UN:IATA+BA123'BGM+962'TDT+20+BA123+++BA'"
        "LOC+125+JFK'DTM+189:202611211800:203'LOC+87+LHR'DTM+232:202611220605:203'"
        "ERP+2'RFF+AVF:XYZ789'RFF+ABO:P42'ERC+0Z'FTX+AAP+++OK TO BOARD'"
        "UNT+13+1'UNE+1+1'UNZ+1+1'"
    )
    answer = parse_cusres(text)
    assert (answer.verdict, answer.text, answer.flight, answer.reference) == (
        AppVerdict.BOARD,
        "OK TO BOARD",
        "BA123",
        "P42",
    )


def test_cusres_never_tells_the_carrier_about_watchlists(
    sltd: DocumentWatchlist, persons: PersonWatchlist
) -> None:
    wanted = _traveller(surname="DOE SMITH", given_names="JOHN", birth_date=date(1970, 5, 6))
    text = write_cusres(_check(wanted, sltd, persons), wanted, FLIGHT, prepared=PREPARED)
    assert "ERC+2Z'FTX+AAP+++CONTACT GOVERNMENT'" in text
    assert "W9" not in text
    assert "WATCHLIST" not in text
    stolen = _traveller(
        documents=(ManifestDocument(DocumentCode.PASSPORT, "99ZZ99999", "FRA", date(2030, 1, 1)),),
        nationality="UTO",
        reference=None,
    )
    text = write_cusres(_check(stolen, sltd, persons), stolen, FLIGHT, prepared=PREPARED)
    assert "RFF+ABO:99ZZ99999'ERC+1Z'FTX+AAP+++DO NOT BOARD?: VISA MISSING'" in text
    assert parse_cusres(text).text == "DO NOT BOARD: VISA MISSING"
    assert len(parse_interchange(text).messages) == 1


def test_parse_cusres_rejects_other_messages() -> None:
    with pytest.raises(CusresError, match=r"segment 2 \(UNH\): not a CUSRES: 'PAXLST'"):
        parse_cusres(
            "UNB+UNOA:4+A+B+20261121:1602+1'UNH+1+PAXLST:D:05B:UN:IATA'BGM+745'UNT+3+1'UNZ+1+1'"
        )
    with pytest.raises(CusresError, match=r"UNT counts") as info:
        parse_cusres("UNB+UNOA:4+A+B+20261121:1602+1'UNH+1+CUSRES:D:05B:UN:IATA'UNT+3+1'UNZ+1+1'")
    assert info.value.code == "cusres_malformed"
