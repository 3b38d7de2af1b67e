"""PAXLST arrivals: manifests written by egate.paxlst.write_paxlst, read back from a
directory, give each flight's actual passengers to the hall."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from simcases import small_hall

from egate.documents import Sex
from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestTraveller,
    TravellerRole,
)
from egate.paxlst import write_paxlst
from sim.hall import simulate
from sim.records import Exit
from sim.scenario import InvalidValue, parse_scenario
from sim.travellers import NationalityGroup


def _traveller(
    k: int,
    nationality: str,
    born: date,
    code: DocumentCode = DocumentCode.PASSPORT,
    role: TravellerRole = TravellerRole.PASSENGER,
) -> ManifestTraveller:
    return ManifestTraveller(
        role=role,
        surname=f"TRAVELLER{k}",
        given_names="ANNA",
        sex=Sex.FEMALE,
        birth_date=born,
        nationality=nationality,
        documents=(ManifestDocument(code, f"X{k:07d}", nationality, date(2030, 1, 1)),),
    )


def _write(directory: Path) -> None:
    first = Manifest(
        flight="EG101",
        carrier="EG",
        departure_airport="JFK",
        arrival_airport="LHR",
        departure_time=datetime(2026, 5, 1, 18, 0),
        arrival_time=datetime(2026, 5, 2, 6, 30),
        travellers=(
            _traveller(1, "GBR", date(1980, 5, 2)),  # 46 on arrival day
            _traveller(2, "USA", date(2016, 5, 3)),  # 9: one day short of 10
            _traveller(3, "DEU", date(1990, 1, 1), DocumentCode.IDENTITY_CARD),
            _traveller(4, "GBR", date(1970, 1, 1), role=TravellerRole.CREW),
        ),
    )
    second = Manifest(
        flight="EG202",
        carrier="EG",
        departure_airport="DEL",
        arrival_airport="LHR",
        departure_time=datetime(2026, 5, 2, 1, 0),
        arrival_time=datetime(2026, 5, 2, 9, 15),
        travellers=tuple(_traveller(10 + k, "IND", date(1985, 3, 3)) for k in range(30)),
    )
    for n, manifest in enumerate((first, second)):
        parts = write_paxlst(manifest, max_travellers_per_part=8)
        (directory / f"{n}.edi").write_text("".join(parts), encoding="utf-8")


def test_manifest_travellers_reach_the_hall(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    _write(tmp_path / "manifests")
    (tmp_path / "sltd.csv").write_text("issuer,number\nIND,X0000012\n", encoding="utf-8")
    data = small_hall(arrivals={"paxlst": {"directory": "manifests", "sltd": "sltd.csv"}})
    scenario = parse_scenario(data, tmp_path)
    r = simulate(scenario, 0)
    t = r.travellers
    assert len(t) == 33  # crew use their own channel
    assert np.bincount(t.flight).tolist() == [3, 30]
    first = t.flight == 0
    assert sorted(t.age[first].tolist()) == [9, 36, 46]
    assert sorted(t.nationality[first].tolist()) == ["DEU", "GBR", "USA"]
    deu = t.nationality == "DEU"
    assert t.document[deu].tolist() == [1]  # identity card: TD1
    assert t.group[deu].tolist() == [NationalityGroup.EEA]
    assert np.all(t.group[t.flight == 1] == NationalityGroup.VISA)
    # Flight 1 is scheduled at 06:30: nobody reaches the hall before its on-block time
    # at the earliest (21 min early on average, notes) plus the door and walk.
    assert t.arrival_s[first].min() > 5 * 3600
    # The SLTD hit goes to secondary inspection, everyone else leaves by gate or desk.
    assert t.watchlist.sum() == 1
    assert r.exit[t.watchlist].tolist() == [Exit.SECONDARY]
    assert np.all(r.exit >= 0)


def test_bad_manifest_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path)
    text = (tmp_path / "1.edi").read_text(encoding="utf-8")
    (tmp_path / "1.edi").write_text(text.replace("UNT+", "UNT+9", 1), encoding="utf-8")
    with pytest.raises(
        InvalidValue, match=r"arrivals\.paxlst\.directory: 1\.edi: not a valid PAXLST manifest"
    ):
        parse_scenario(small_hall(arrivals={"paxlst": {"directory": "."}}), tmp_path)
    with pytest.raises(InvalidValue, match="not a directory of PAXLST files"):
        parse_scenario(small_hall(arrivals={"paxlst": {"directory": "nowhere"}}), tmp_path)
