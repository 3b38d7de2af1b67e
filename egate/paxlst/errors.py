"""Errors of PAXLST reading and writing."""

from __future__ import annotations

from egate.edifact import EdifactError


class PaxlstError(EdifactError):
    """The PAXLST interchange is malformed; nothing of it is used.

    `segment`/`tag`/`reason` as for `EdifactError`; `interchange` is the
    1-based index of the text among those given to `parse_paxlst_parts`.
    """

    code = "paxlst_malformed"

    def __init__(self, segment: int, tag: str, reason: str, interchange: int | None = None):
        super().__init__(segment, tag, reason)
        self.interchange = interchange
        if interchange is not None:
            self.args = (f"interchange {interchange}, {self.args[0]}",)

    @classmethod
    def of(cls, error: EdifactError, interchange: int | None = None) -> PaxlstError:
        return cls(error.segment, error.tag, error.reason, interchange)


class ManifestValueError(PaxlstError):
    """A `Manifest` handed to `write_paxlst` cannot be written (a required field is empty)."""

    code = "manifest_invalid"
