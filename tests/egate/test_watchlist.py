from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egate import watchlist
from egate.names import spellings, transliterate
from egate.watchlist import (
    DocumentWatchlist,
    FaceWatchlist,
    HitReason,
    PersonEntry,
    PersonWatchlist,
    SltdHit,
    SltdStatus,
    WatchlistEntryError,
    document_key,
)

# --- names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "icao"),
    [
        ("Müller-Lüdenscheidt", "MUELLER LUEDENSCHEIDT"),
        ("Øster Straße", "OESTER STRASSE"),
        ("Ångström", "AANGSTROEM"),
        ("Łukasz Żółć", "LUKASZ ZOLC"),
        ("O'Brien", "OBRIEN"),
        ("Núñez García", "NUNEZ GARCIA"),
        ("Щербаков Юрий", "SHCHERBAKOV IURII"),
        ("Жуков Дмитрий Ильич", "ZHUKOV DMITRII ILICH"),
        ("Їжак Ґонта", "IZHAK GONTA"),
        ("Þórður Ðorđević", "THORDUR DORDEVIC"),
    ],
)
def test_icao_transliteration(name: str, icao: str) -> None:
    assert transliterate(name) == icao


def test_plain_spelling_is_kept_beside_the_icao_one() -> None:
    assert spellings("Müller") == ("MUELLER", "MULLER")
    assert spellings("Smith") == ("SMITH",)


@given(st.text())
def test_transliteration_yields_tokens_of_a_to_z(text: str) -> None:
    for spelling in spellings(text):
        assert all(token.isascii() and token.isalpha() for token in spelling.split())
        assert spelling == " ".join(spelling.split())


# --- SLTD ------------------------------------------------------------------------


def test_document_hits_are_exact_on_normalised_issuer_and_number() -> None:
    sltd = DocumentWatchlist()
    sltd.add("UTO", "L898902C3", SltdStatus.LOST)
    sltd.add("D", "C01X00T47")
    assert sltd.hit("uto", "l898902c3") == SltdHit("UTO", "L898902C3", SltdStatus.LOST)
    assert sltd.hit("UTO", "L898902C3<<<") == SltdHit("UTO", "L898902C3", SltdStatus.LOST)
    assert sltd.hit("D<<", "C01X-00T47") == SltdHit("D<<", "C01X00T47", SltdStatus.STOLEN)
    assert sltd.hit("GBR", "L898902C3") is None
    assert sltd.hit("UTO", "L898902C4") is None
    assert sltd.hit("UTO", "") is None
    assert len(sltd) == 2


def test_bad_document_entry_is_refused_with_its_value() -> None:
    with pytest.raises(WatchlistEntryError, match=r"needs an issuer.*\('UTOPIA', '123'\)") as info:
        DocumentWatchlist().add("UTOPIA", "123")
    assert info.value.code == "watchlist_entry_invalid"
    assert document_key("", "123") == ""


def _write_csv(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_load_csv(tmp_path: Path) -> None:
    rows = [["GBR", f"{i:09d}", "stolen" if i % 3 else "lost"] for i in range(50_000)]
    sltd = DocumentWatchlist()
    assert (
        sltd.load_csv(_write_csv(tmp_path / "sltd.csv", rows, ["issuer", "number", "status"]))
        == 50_000
    )
    assert len(sltd) == 50_000
    assert sltd.hit("GBR", "000000003") == SltdHit("GBR", "000000003", SltdStatus.LOST)
    assert sltd.hit("GBR", "000000004") == SltdHit("GBR", "000000004", SltdStatus.STOLEN)
    assert sltd.hit("GBR", "000050000") is None
    assert sltd.load_csv(_write_csv(tmp_path / "empty.csv", [], ["issuer", "number"])) == 0
    assert len(sltd) == 50_000


def test_load_csv_in_small_blocks_counts_lines_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchlist, "CSV_BLOCK_BYTES", 1024)
    rows = [["GBR", f"{i:09d}"] for i in range(5000)]
    sltd = DocumentWatchlist()
    assert sltd.load_csv(_write_csv(tmp_path / "ok.csv", rows, ["issuer", "number"])) == 5000
    assert sltd.hit("GBR", "000004999") is not None
    rows[4321] = ["GBRX", "1"]
    with pytest.raises(WatchlistEntryError, match=r"line 4323: unusable SLTD row: \['GBRX', '1'\]"):
        DocumentWatchlist().load_csv(_write_csv(tmp_path / "bad.csv", rows, ["issuer", "number"]))


def test_load_csv_rejects_the_whole_file_on_a_bad_row(tmp_path: Path) -> None:
    sltd = DocumentWatchlist()
    path = _write_csv(tmp_path / "bad.csv", [["GBR", "1"], ["GBR", ""]], ["issuer", "number"])
    with pytest.raises(WatchlistEntryError, match=r"line 3: unusable SLTD row: \['GBR', ''\]"):
        sltd.load_csv(path)
    assert len(sltd) == 0
    path = _write_csv(
        tmp_path / "status.csv", [["GBR", "1", "misplaced"]], ["issuer", "number", "status"]
    )
    with pytest.raises(WatchlistEntryError, match=r"line 2: unusable SLTD row"):
        sltd.load_csv(path)
    short = tmp_path / "short.csv"
    short.write_text("issuer,number,status\nGBR,1\n")
    with pytest.raises(
        WatchlistEntryError, match=r"unreadable SLTD CSV.*Expected 3 columns, got 2"
    ):
        sltd.load_csv(short)
    path = _write_csv(tmp_path / "header.csv", [["GBR", "1"]], ["number", "issuer"])
    with pytest.raises(WatchlistEntryError, match=r"line 1: CSV header must start issuer,number"):
        sltd.load_csv(path)


ROW_TEXT = st.text(alphabet="abcGBRDß<é -./Ø1", max_size=6)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(ROW_TEXT, ROW_TEXT), min_size=1, max_size=8))
def test_csv_loading_normalises_exactly_like_add(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    one_by_one: DocumentWatchlist | None = DocumentWatchlist()
    try:
        for issuer, number in rows:
            one_by_one.add(issuer, number)  # type: ignore[union-attr]
    except WatchlistEntryError:
        one_by_one = None
    path = _write_csv(tmp_path / "rows.csv", [list(r) for r in rows], ["issuer", "number"])
    bulk = DocumentWatchlist()
    if one_by_one is None:
        with pytest.raises(WatchlistEntryError, match="unusable SLTD row"):
            bulk.load_csv(path)
        assert len(bulk) == 0
    else:
        bulk.load_csv(path)
        assert bulk._index == one_by_one._index


class _CountingDict(dict[str, Any]):
    """A dict that counts how it is read: lookups vs anything that walks it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lookups = 0
        self.walks = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.lookups += 1
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.lookups += 1
        return super().__getitem__(key)

    def __iter__(self) -> Any:
        self.walks += 1
        return super().__iter__()

    def items(self) -> Any:
        self.walks += 1
        return super().items()

    def values(self) -> Any:
        self.walks += 1
        return super().values()

    def keys(self) -> Any:
        self.walks += 1
        return super().keys()


@pytest.mark.parametrize("size", [10, 200_000])
def test_document_lookup_is_one_hash_probe_whatever_the_size(size: int) -> None:
    sltd = DocumentWatchlist()
    for i in range(size):
        sltd.add("GBR", f"{i:09d}")
    spy = _CountingDict(sltd._index)
    sltd._index = spy
    assert sltd.hit("GBR", f"{size - 1:09d}") is not None
    assert sltd.hit("FRA", "000000001") is None
    assert (spy.lookups, spy.walks) == (2, 0)


# --- persons ---------------------------------------------------------------------

LIST = [
    PersonEntry("W1", "MÜLLER", "HANS PETER", birth_date=date(1970, 3, 4)),
    PersonEntry("W2", "ЖУКОВ", "ДМИТРИЙ", birth_date=date(1965, 11, 20)),
    PersonEntry("W3", "GARCIA LOPEZ", "MARIA", birth_year=1980),
    PersonEntry("W4", "SMITH", "JOHN", birth_date=date(1990, 1, 1)),
]


@pytest.fixture
def persons() -> PersonWatchlist:
    return PersonWatchlist(LIST)


def _best(hits: list[Any]) -> tuple[str, tuple[HitReason, ...]]:
    return hits[0].entry.id, hits[0].reasons


def test_transliterated_name_and_exact_birth_date(persons: PersonWatchlist) -> None:
    hits = persons.search("MUELLER", "HANS PETER", date(1970, 3, 4))
    assert _best(hits) == ("W1", (HitReason.NAME_EXACT, HitReason.BIRTH_DATE_EXACT))
    assert hits[0].score == 100
    # The same person written without the umlaut, as another list would.
    assert _best(persons.search("Muller", "Hans-Peter", date(1970, 3, 4)))[0] == "W1"


def test_cyrillic_entry_matches_latin_query(persons: PersonWatchlist) -> None:
    hits = persons.search("ZHUKOV", "DMITRII", date(1965, 11, 20))
    assert _best(hits) == ("W2", (HitReason.NAME_EXACT, HitReason.BIRTH_DATE_EXACT))


def test_order_insensitive(persons: PersonWatchlist) -> None:
    hits = persons.search("PETER HANS", "MUELLER", date(1970, 3, 4))
    assert _best(hits) == ("W1", (HitReason.NAME_EXACT, HitReason.BIRTH_DATE_EXACT))


def test_misspelling_scores_below_100(persons: PersonWatchlist) -> None:
    hits = persons.search("ZHUKOW", "DMITRI", date(1965, 11, 20))
    assert _best(hits) == ("W2", (HitReason.NAME_FUZZY, HitReason.BIRTH_DATE_EXACT))
    assert 85 <= hits[0].score < 100


@pytest.mark.parametrize(
    ("birth", "reason", "score"),
    [
        (date(1990, 1, 1), HitReason.BIRTH_DATE_EXACT, 100.0),
        (None, HitReason.BIRTH_DATE_UNKNOWN, 90.0),
        (date(1991, 1, 1), HitReason.BIRTH_DATE_CLOSE, 90.0),
    ],
)
def test_birth_date_tolerance(
    persons: PersonWatchlist, birth: date | None, reason: HitReason, score: float
) -> None:
    hits = persons.search("SMITH", "JOHN", birth)
    assert _best(hits) == ("W4", (HitReason.NAME_EXACT, reason))
    assert hits[0].score == pytest.approx(score)


def test_day_month_swap_and_year_only(persons: PersonWatchlist) -> None:
    hits = persons.search("MUELLER", "HANS PETER", date(1970, 4, 3))
    assert _best(hits) == ("W1", (HitReason.NAME_EXACT, HitReason.BIRTH_DAY_MONTH_SWAPPED))
    hits = persons.search("GARCIA LOPEZ", "MARIA", date(1980, 6, 7))
    assert _best(hits) == ("W3", (HitReason.NAME_EXACT, HitReason.BIRTH_YEAR_ONLY))


def test_same_name_other_birth_date_is_no_hit(persons: PersonWatchlist) -> None:
    assert persons.search("SMITH", "JOHN", date(1950, 6, 7)) == []
    assert persons.search("SMITH", "JOHN", date(1950, 6, 7), threshold=40)[0].reasons == (
        HitReason.NAME_EXACT,
        HitReason.BIRTH_DATE_DIFFERS,
    )


def test_missing_middle_name_is_a_slightly_weaker_hit(persons: PersonWatchlist) -> None:
    hits = persons.search("MUELLER", "HANS", date(1970, 3, 4))
    assert _best(hits)[0] == "W1"
    assert hits[0].name_score == pytest.approx(95.0)


def test_unrelated_names_do_not_hit(persons: PersonWatchlist) -> None:
    assert persons.search("NAKAMURA", "YUKI", date(1970, 3, 4)) == []
    assert persons.search("SMYTHE", "JOAN", date(1990, 1, 1)) == []


def test_ranked_best_first() -> None:
    watch = PersonWatchlist(
        [
            PersonEntry("A", "PETROV", "IVAN", birth_date=date(1980, 1, 2)),
            PersonEntry("B", "PETROVA", "IVANA", birth_date=date(1980, 1, 2)),
        ],
        threshold=70,
    )
    assert [h.entry.id for h in watch.search("PETROV", "IVAN", date(1980, 1, 2))] == ["A", "B"]


def test_bad_person_entry_and_threshold() -> None:
    with pytest.raises(WatchlistEntryError, match="without a usable name"):
        PersonWatchlist([PersonEntry("X", "???", "")])
    with pytest.raises(WatchlistEntryError, match="threshold must be within 0-100: 120"):
        PersonWatchlist(threshold=120)


PEOPLE = st.builds(
    PersonEntry,
    id=st.uuids().map(str),
    surname=st.sampled_from(["SMITH", "SMYTH", "MUELLER", "MÜLLER", "PETROV"]),
    given_names=st.sampled_from(["JOHN", "JON", "ANNA MARIA", "ANNA", ""]),
    birth_date=st.none() | st.dates(date(1960, 1, 1), date(1963, 12, 31)),
    birth_year=st.none() | st.integers(1960, 1963),
)


@settings(max_examples=80, deadline=None)
@given(
    entries=st.lists(PEOPLE, min_size=1, max_size=25),
    query=PEOPLE,
    threshold=st.sampled_from([40.0, 60.0, 85.0, 95.0]),
)
def test_birth_year_blocking_loses_no_hit(
    entries: list[PersonEntry], query: PersonEntry, threshold: float
) -> None:
    watch = PersonWatchlist(entries)
    blocked = watch.search(
        query.surname, query.given_names, query.birth_date, threshold=threshold, limit=100
    )
    watch._block = lambda birth, threshold: None  # type: ignore[method-assign]
    full = watch.search(
        query.surname, query.given_names, query.birth_date, threshold=threshold, limit=100
    )
    assert blocked == full


# --- faces -----------------------------------------------------------------------


def test_face_watchlist_searches_the_matcher_gallery(tmp_path: Path) -> None:
    matcher = pytest.importorskip("biometrics.matcher")
    rng = np.random.default_rng(7)
    vectors = rng.normal(0, 0.1, (50, 128)).astype(np.float32)
    gallery = matcher.Gallery.create(tmp_path / "watch")
    with matcher.Searcher(gallery, threads=1) as searcher:
        faces = FaceWatchlist(searcher, threshold=0.6)
        faces.add([f"W{i}" for i in range(50)], vectors)
        assert len(faces) == 50
        probe = vectors[[7, 30]] + rng.normal(0, 0.01, (2, 128)).astype(np.float32)
        stranger = rng.normal(0, 0.1, (1, 128)).astype(np.float32) + 3.0
        hits = faces.search(np.vstack([probe, stranger]))
        assert [h.id for h in hits[0][:1]] == ["W7"]
        assert [h.id for h in hits[1][:1]] == ["W30"]
        assert hits[2] == []
        assert all(h.distance <= 0.6 for row in hits for h in row)
        faces.remove(["W7"])
        assert [h.id for h in faces.search(probe[:1])[0]] == []


def test_face_watchlist_on_real_photographs(tmp_path: Path, people: list[Any]) -> None:
    """Watch one photo each of four people; every other photo of them hits
    that person only, and the two people not watched hit nobody."""
    matcher = pytest.importorskip("biometrics.matcher")
    from biometrics.embedding import OnnxEmbedder
    from biometrics.pipeline import FaceProcessor
    from biometrics.quality import QualityPolicy

    # Watchlist photos are whatever the authority has: accept any detectable face.
    lenient = QualityPolicy(
        min_eye_distance_px=20,
        max_yaw_deg=60,
        max_roll_deg=45,
        min_sharpness=0,
        min_brightness=0,
        max_brightness=255,
        max_clipped_fraction=1.0,
    )
    processor = FaceProcessor(OnnxEmbedder(threads=1), lenient)
    captures = processor.process_batch([p.path for p in people])
    identity = [p.identities[0] for p in people]
    embeddings = [c.embedding for c in captures if c.embedding is not None]
    assert len(embeddings) == len(people)
    watched = ["obama", "biden", "alex_lacamoire", "kit_harington"]
    first = {name: identity.index(name) for name in watched}
    with matcher.Searcher(matcher.Gallery.create(tmp_path / "faces"), threads=1) as searcher:
        faces = FaceWatchlist(searcher)
        faces.add(watched, np.stack([embeddings[first[n]] for n in watched]))
        probes = [i for i in range(len(people)) if i not in first.values()]
        hits = faces.search(np.stack([embeddings[i] for i in probes]))
    for i, found in zip(probes, hits, strict=True):
        expected = [identity[i]] if identity[i] in watched else []
        assert [h.id for h in found] == expected, people[i].path.name
