"""The biometric operating point: FNMR (and FMR) at the gate's match threshold,
read from a DET table, the output of `egate eval` (CSV or JSON of threshold,
FMR, FNMR), or from documented defaults. The simulator never runs a face model.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr  # the normal CDF, without importing scipy.stats

from sim import SimError
from sim.travellers import FloatArray


class DetTableError(SimError):
    """A DET table file that cannot be used (carries the file and the offending value)."""

    code = "invalid_det_table"

    def __init__(self, where: str, value: object, reason: str) -> None:
        self.where = where
        self.value = value
        super().__init__(f"{where}: {reason} (got {value!r})")


@dataclass(frozen=True)
class DetTable:
    """Error rates against the decision threshold, for distance scores (lower = more alike:
    a comparison matches when its distance is at or below the threshold).

    `thresholds` ascending; `fmr` non-decreasing, `fnmr` non-increasing along it.
    """

    thresholds: FloatArray
    fmr: FloatArray
    fnmr: FloatArray
    source: str = "default"

    def __post_init__(self) -> None:
        t, a, b = self.thresholds, self.fmr, self.fnmr
        if not (len(t) == len(a) == len(b) >= 2):
            raise DetTableError(
                self.source, len(t), "needs at least two rows of threshold, fmr, fnmr"
            )
        if np.any(np.diff(t) <= 0):
            raise DetTableError(
                self.source, t.tolist()[:5], "thresholds must be strictly increasing"
            )
        for name, rates in (("fmr", a), ("fnmr", b)):
            if np.any((rates < 0) | (rates > 1)) or not np.all(np.isfinite(rates)):
                raise DetTableError(self.source, name, "rates must lie in [0, 1]")

    def at(self, threshold: float) -> tuple[float, float]:
        """(FMR, FNMR) at `threshold`, interpolated linearly; beyond the table, its end rows."""
        return (
            float(np.interp(threshold, self.thresholds, self.fmr)),
            float(np.interp(threshold, self.thresholds, self.fnmr)),
        )

    @staticmethod
    def default() -> DetTable:
        """dlib's operating point from its published LFW accuracy: 99.38% at distance 0.6
        (notes, "Biometric performance"), read as an equal error rate of 0.62% at 0.6 between
        normal genuine (mean 0.35) and impostor (mean 0.85) distance distributions of sd 0.1
        (0.25 / 0.1 = 2.5 sd = the 0.62% tail). A modelling default, not a measurement."""
        t = np.round(np.arange(0.20, 1.0001, 0.01), 2)
        return DetTable(
            thresholds=t,
            fmr=ndtr((t - 0.85) / 0.1),
            fnmr=ndtr(-(t - 0.35) / 0.1),
            source="default (dlib LFW 99.38% at 0.6)",
        )

    @staticmethod
    def load(path: Path) -> DetTable:
        """A DET table from CSV (header `threshold,fmr,fnmr`) or JSON (`{"thresholds": [...],
        "fmr": [...], "fnmr": [...]}` or a list of row objects); rows are sorted by threshold."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DetTableError(str(path), str(path), f"cannot read: {exc.strerror}") from None
        rows = _json_rows(text, path) if path.suffix.lower() == ".json" else _csv_rows(text, path)
        return DetTable.from_arrays(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], source=path.name
        )

    @staticmethod
    def from_arrays(
        thresholds: Sequence[float] | FloatArray,
        fmr: Sequence[float] | FloatArray,
        fnmr: Sequence[float] | FloatArray,
        *,
        source: str = "arrays",
    ) -> DetTable:
        """A table from columns in any order, e.g. a `biometrics.evaluation.DetCurve`'s
        `(thresholds, fmr, fnmr)`; rows are sorted by threshold and a repeated threshold
        (tied scores) keeps its first row."""
        t = np.asarray(thresholds, dtype=float)
        a, b = np.asarray(fmr, dtype=float), np.asarray(fnmr, dtype=float)
        if not (t.shape == a.shape == b.shape and t.ndim == 1):
            raise DetTableError(source, (t.shape, a.shape, b.shape), "columns differ in length")
        order = np.argsort(t, kind="stable")
        t, a, b = t[order], a[order], b[order]
        _, first = np.unique(t, return_index=True)
        return DetTable(thresholds=t[first], fmr=a[first], fnmr=b[first], source=source)


def _number(where: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DetTableError(where, value, "not a number") from None
    if not math.isfinite(number):
        raise DetTableError(where, value, "not a finite number")
    return number


def _csv_rows(text: str, path: Path) -> list[tuple[float, float, float]]:
    reader = csv.DictReader(text.splitlines())
    names = [n.strip().lower() for n in reader.fieldnames or []]
    if not {"threshold", "fmr", "fnmr"} <= set(names):
        raise DetTableError(
            path.name, reader.fieldnames, "header must name threshold, fmr and fnmr"
        )
    out = []
    for n, row in enumerate(reader, start=2):
        row = {k.strip().lower(): v for k, v in row.items() if k is not None}
        where = f"{path.name} line {n}"
        out.append(tuple(_number(where, row[c]) for c in ("threshold", "fmr", "fnmr")))
    return out  # type: ignore[return-value]


def _json_rows(text: str, path: Path) -> list[tuple[float, float, float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DetTableError(path.name, exc.msg, "not valid JSON") from None
    if isinstance(data, dict) and {"thresholds", "fmr", "fnmr"} <= set(data):
        cols = [data["thresholds"], data["fmr"], data["fnmr"]]
        if not all(isinstance(c, list) and len(c) == len(cols[0]) for c in cols):
            raise DetTableError(
                path.name, [len(c) for c in cols if isinstance(c, list)], "columns differ in length"
            )
        return [tuple(_number(path.name, v) for v in r) for r in zip(*cols, strict=True)]  # type: ignore[misc]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        try:
            return [
                (
                    _number(path.name, r["threshold"]),
                    _number(path.name, r["fmr"]),
                    _number(path.name, r["fnmr"]),
                )
                for r in data
            ]
        except KeyError as exc:
            raise DetTableError(path.name, exc.args[0], "row lacks a key") from None
    raise DetTableError(
        path.name, type(data).__name__, "expected {thresholds, fmr, fnmr} or a list of rows"
    )
