"""Travellers as columns: one numpy array per attribute, one row per traveller.

A peak day has 100,000 travellers; holding them as parallel arrays (not one
object each) lets every attribute and every service time be drawn in one
vectorised call per random stream.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from egate.documents import DocumentType

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


class NationalityGroup(enum.IntEnum):
    """UK Home Office DRT's passenger groups; desk times differ (notes, "desk by nationality")."""

    NATIONAL = 0
    EEA = 1
    B5JSSK = 2  # USA, Canada, Australia, New Zealand, Japan, Singapore, South Korea
    NON_VISA = 3
    VISA = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> NationalityGroup:
        return cls[label.upper()]


# Documents the simulator knows, in a fixed order (the column stores the index).
DOCUMENT_TYPES: tuple[DocumentType, ...] = (DocumentType.TD3, DocumentType.TD1, DocumentType.TD2)

EEA_STATES = frozenset(
    [
        "AUT",
        "BEL",
        "BGR",
        "HRV",
        "CYP",
        "CZE",
        "DNK",
        "EST",
        "FIN",
        "FRA",
        "D<<",
        "DEU",
        "GRC",
        "HUN",
        "IRL",
        "ITA",
        "LVA",
        "LTU",
        "LUX",
        "MLT",
        "NLD",
        "POL",
        "PRT",
        "ROU",
        "SVK",
        "SVN",
        "ESP",
        "SWE",
        "ISL",
        "LIE",
        "NOR",
        "CHE",
    ]
)
B5JSSK_STATES = frozenset(["USA", "CAN", "AUS", "NZL", "JPN", "SGP", "KOR"])
# Representative issuers per group for synthetic travellers (the chip read time
# depends on the issuer); real issuers come from PAXLST or arrival logs.
_ISSUERS: dict[NationalityGroup, tuple[str, ...]] = {
    NationalityGroup.EEA: ("DEU", "FRA", "ITA", "ESP", "NLD", "POL", "IRL", "SWE"),
    NationalityGroup.B5JSSK: ("USA", "CAN", "AUS", "NZL", "JPN", "SGP", "KOR"),
    NationalityGroup.NON_VISA: ("BRA", "MEX", "ARG", "ISR", "MYS", "ARE", "CHL"),
    NationalityGroup.VISA: ("IND", "CHN", "NGA", "PAK", "EGY", "TUR", "ZAF"),
}


def group_of(nationality: str, home: str) -> NationalityGroup:
    """The DRT group of an ISO 3166 alpha-3 nationality, seen from the `home` state."""
    if nationality == home:
        return NationalityGroup.NATIONAL
    if nationality in EEA_STATES:
        return NationalityGroup.EEA
    if nationality in B5JSSK_STATES:
        return NationalityGroup.B5JSSK
    if nationality in _ISSUERS[NationalityGroup.NON_VISA]:
        return NationalityGroup.NON_VISA
    return NationalityGroup.VISA


@dataclass(frozen=True)
class Travellers:
    """Arrivals at the hall, sorted by `arrival_s`; all arrays have the same length.

    - `arrival_s`: seconds from the start of the day at which the traveller reaches the hall.
    - `flight`: index into the run's flight list, -1 when not from a flight.
    - `group`: `NationalityGroup` value; `nationality`: ISO alpha-3 (the document issuer too).
    - `age`: whole years; `enrolled`: registered for the e-gates.
    - `document`: index into `DOCUMENT_TYPES`.
    - `watchlist`: an APIS or watchlist hit (sent to secondary inspection).
    """

    arrival_s: FloatArray
    flight: IntArray
    group: IntArray
    nationality: StrArray
    age: IntArray
    enrolled: BoolArray
    document: IntArray
    watchlist: BoolArray

    def __len__(self) -> int:
        return len(self.arrival_s)

    def take(self, index: IntArray) -> Travellers:
        """The travellers at `index`, in that order."""
        return Travellers(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def sorted(self) -> Travellers:
        """The same travellers ordered by arrival time (stable for ties)."""
        return self.take(np.argsort(self.arrival_s, kind="stable"))

    @staticmethod
    def concat(parts: list[Travellers]) -> Travellers:
        return Travellers(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(Travellers)
            }
        )


@dataclass(frozen=True)
class TravellerMix:
    """How synthetic travellers are drawn.

    Defaults: groups chosen so that about 0.8 of arrivals are e-gate eligible
    (notes, "eligible / uptake 0.8"); 8% children under 12 (assumption); 30%
    of EEA nationals travel on an ID card (assumption); APIS/watchlist hits
    1e-4 (notes, SLTD hit rate "about 1e-4").
    """

    groups: Mapping[NationalityGroup, float]
    child_share: float = 0.08
    id_card_share_eea: float = 0.30
    enrolled_share: float = 0.0
    watchlist_rate: float = 1e-4
    home: str = "GBR"

    @staticmethod
    def default() -> TravellerMix:
        return TravellerMix(
            groups={
                NationalityGroup.NATIONAL: 0.45,
                NationalityGroup.EEA: 0.25,
                NationalityGroup.B5JSSK: 0.12,
                NationalityGroup.NON_VISA: 0.10,
                NationalityGroup.VISA: 0.08,
            }
        )

    def draw(self, rng: np.random.Generator, arrival_s: FloatArray, flight: IntArray) -> Travellers:
        """Attributes for travellers arriving at `arrival_s` (seconds) on `flight` (indices)."""
        n = len(arrival_s)
        groups = sorted(self.groups)
        weights = np.array([self.groups[g] for g in groups], dtype=float)
        group = np.array(groups, dtype=np.int64)[
            rng.choice(len(groups), size=n, p=weights / weights.sum())
        ]
        pick = rng.random(n)
        nationality = np.full(n, self.home, dtype="<U3")
        for g, issuers in _ISSUERS.items():
            mask = group == g
            nationality[mask] = np.array(issuers)[(pick[mask] * len(issuers)).astype(np.int64)]
        child = rng.random(n) < self.child_share
        age = np.where(child, rng.integers(0, 12, n), rng.integers(12, 80, n))
        id_card = (rng.random(n) < self.id_card_share_eea) & (group == NationalityGroup.EEA)
        enrolled = rng.random(n) < self.enrolled_share
        watchlist = rng.random(n) < self.watchlist_rate
        return Travellers(
            arrival_s=np.asarray(arrival_s, dtype=np.float64),
            flight=np.asarray(flight, dtype=np.int64),
            group=group,
            nationality=nationality,
            age=age.astype(np.int64),
            enrolled=enrolled,
            document=np.where(id_card, 1, 0).astype(np.int64),
            watchlist=watchlist,
        )
