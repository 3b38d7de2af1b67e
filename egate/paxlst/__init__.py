"""PAXLST (UN/EDIFACT D:02B and D:05B) in and out: `parse_paxlst` turns one
interchange (or, with `parse_paxlst_parts`, the interchanges of a multi-part
manifest) into a typed `Manifest`; `write_paxlst` writes one.

A malformed message is rejected whole with a `PaxlstError` naming the segment
and the reason. Well-formed content the model does not use is handled by
kind: standard PAXLST segments and qualifiers we do not model (COM, FTX, GEI,
LOC+174, RFF+SEA, ...) are skipped silently; unknown segments and unknown
qualifiers are skipped with a `PaxlstWarning` in `Manifest.warnings`; anything
that changes the meaning of a traveller (a DOC without a number, a date that
is not a date, DTM+36 outside a DOC group, a count that does not add up) is
an error.
"""

from egate.manifest import (
    DocumentCode,
    Manifest,
    ManifestDocument,
    ManifestKind,
    ManifestTraveller,
    PaxlstWarning,
    TravellerRole,
)
from egate.paxlst.errors import ManifestValueError, PaxlstError
from egate.paxlst.reader import VERSIONS, parse_manifests, parse_paxlst, parse_paxlst_parts
from egate.paxlst.writer import write_paxlst

__all__ = [
    "VERSIONS",
    "DocumentCode",
    "Manifest",
    "ManifestDocument",
    "ManifestKind",
    "ManifestTraveller",
    "ManifestValueError",
    "PaxlstError",
    "PaxlstWarning",
    "TravellerRole",
    "parse_manifests",
    "parse_paxlst",
    "parse_paxlst_parts",
    "write_paxlst",
]
