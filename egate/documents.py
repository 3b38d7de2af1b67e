"""The travel document as the gate reads it (ICAO Doc 9303), independent of the
source (printed MRZ, chip DG1, PAXLST DOC segment)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Any


class DocumentType(enum.Enum):
    """ICAO 9303 MRZ format of the document (not the issuer's document code)."""

    TD1 = "TD1"  # ID card, 3 x 30
    TD2 = "TD2"  # 2 x 36
    TD3 = "TD3"  # passport booklet, 2 x 44
    MRV_A = "MRV-A"  # visa, 2 x 44
    MRV_B = "MRV-B"  # visa, 2 x 36


class Sex(enum.Enum):
    """Doc 9303 sex field: `M`, `F`, or `<` / `X` for unspecified."""

    MALE = "M"
    FEMALE = "F"
    UNSPECIFIED = "X"


@dataclass(frozen=True, slots=True)
class TravelDocument:
    """One travel document, with every MRZ field decoded.

    `issuer` and `nationality` are the three-letter codes of Doc 9303 part 3
    (ISO 3166-1 alpha-3 plus ICAO's extras such as `D<<`, `UTO`). `code` is
    the document code as printed (`P`, `PM`, `I`, `ID`, `V`, ...). Names are
    upper case with `<` fillers turned into spaces. `names_truncated` is True when
    the MRZ name field was filled to its last character, the only sign Doc 9303
    gives that the names were cut to fit.
    """

    format: DocumentType
    code: str
    issuer: str
    number: str
    surname: str
    given_names: str
    nationality: str
    birth_date: date
    sex: Sex
    expiry_date: date
    optional_data: str = ""
    optional_data_2: str = ""
    names_truncated: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """(issuer, number): the identity of the booklet, as SLTD indexes it."""
        return (self.issuer, self.number)

    def is_expired(self, on: date) -> bool:
        """True when the document is no longer valid on `on` (expiry day included as valid)."""
        return on > self.expiry_date

    def age_on(self, on: date) -> int:
        """Whole years of age of the holder on `on`."""
        years = on.year - self.birth_date.year
        if (on.month, on.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings, enums as their values)."""
        return {
            "format": self.format.value,
            "code": self.code,
            "issuer": self.issuer,
            "number": self.number,
            "surname": self.surname,
            "given_names": self.given_names,
            "nationality": self.nationality,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex.value,
            "expiry_date": self.expiry_date.isoformat(),
            "optional_data": self.optional_data,
            "optional_data_2": self.optional_data_2,
            "names_truncated": self.names_truncated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TravelDocument:
        """The inverse of `as_json`."""
        return cls(
            format=DocumentType(data["format"]),
            code=data["code"],
            issuer=data["issuer"],
            number=data["number"],
            surname=data["surname"],
            given_names=data["given_names"],
            nationality=data["nationality"],
            birth_date=date.fromisoformat(data["birth_date"]),
            sex=Sex(data["sex"]),
            expiry_date=date.fromisoformat(data["expiry_date"]),
            optional_data=data.get("optional_data", ""),
            optional_data_2=data.get("optional_data_2", ""),
            names_truncated=data.get("names_truncated", False),
        )
