"""Technology evaluation of comparison scores (ISO/IEC 19795-1): error rates at a
threshold, the DET curve, the equal error rate, thresholds for a target FMR, and a
probit-scaled DET plot.

Scores are Euclidean DISTANCES by default (lower = more alike): a comparison
matches when its score is at or below the threshold, so

    FMR(t)  = impostor comparisons with score <= t / impostor comparisons
    FNMR(t) = genuine comparisons with score >  t / genuine comparisons

`ScoreKind.SIMILARITY` flips that (match when score >= t). Score sets are 1-D
sequences or arrays of finite numbers; everything is computed in float64 with
sorting + `searchsorted`, O(n log n), so 10^6 scores take well under a second.
Importing this module loads neither matplotlib nor scipy.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from biometrics import BiometricsError

FloatArray = npt.NDArray[np.float64]
Scores = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]


class EvaluationError(BiometricsError):
    """Scores or parameters that cannot be evaluated."""

    code: str = "evaluation_error"


class EmptyScores(EvaluationError):
    """A score set with no comparisons: its error rate is undefined."""

    code = "empty_scores"

    def __init__(self, which: str) -> None:
        self.which = which
        super().__init__(f"no {which} scores: the {which} error rate is undefined")


class InvalidScores(EvaluationError):
    """A score set that is not a 1-D sequence of finite numbers (carries the offender)."""

    code = "invalid_scores"

    def __init__(self, which: str, value: object, reason: str, index: int | None = None) -> None:
        self.which = which
        self.value = value
        self.index = index
        where = f"{which} scores" + (f"[{index}]" if index is not None else "")
        super().__init__(f"{where}: {reason} (got {value!r})")


class InvalidTargetFmr(EvaluationError):
    """A target FMR outside the open interval (0, 1)."""

    code = "invalid_target_fmr"

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(f"target FMR must lie strictly between 0 and 1 (got {value!r})")


class InvalidThreshold(EvaluationError):
    """A threshold that is not a finite number."""

    code = "invalid_threshold"

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(f"threshold must be a finite number (got {value!r})")


class InvalidParameter(EvaluationError):
    """Any other parameter outside its range (carries its name, value and rule)."""

    code = "invalid_parameter"

    def __init__(self, name: str, value: object, rule: str) -> None:
        self.name = name
        self.value = value
        self.rule = rule
        super().__init__(f"{name} must be {rule} (got {value!r})")


class NoCurves(EvaluationError):
    """`plot_det` was given nothing to draw."""

    code = "no_curves"

    def __init__(self) -> None:
        super().__init__("plot_det needs at least one DET curve")


class ScoreKind(Enum):
    """How a score relates to similarity."""

    DISTANCE = "distance"
    """Lower = more alike; match when score <= threshold (dlib's Euclidean distance)."""
    SIMILARITY = "similarity"
    """Higher = more alike; match when score >= threshold."""


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """FMR and FNMR (fractions in [0, 1]) at one threshold."""

    fmr: float
    fnmr: float


@dataclass(frozen=True, slots=True, eq=False)
class DetCurve:
    """Error rates at every distinct observed score used as the threshold.

    `thresholds` (n,) float64 strictly ascending; `fmr`, `fnmr` (n,) float64 in [0, 1].
    For distances `fmr` is non-decreasing and `fnmr` non-increasing along `thresholds`
    (the reverse for similarities). `n_genuine`/`n_impostor` are the comparison counts.
    """

    thresholds: FloatArray
    fmr: FloatArray
    fnmr: FloatArray
    n_genuine: int = 0
    n_impostor: int = 0
    kind: ScoreKind = ScoreKind.DISTANCE


def _scores(which: str, values: Scores) -> FloatArray:
    """A validated 1-D float64 copy of a score set."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidScores(which, type(values).__name__, f"not numbers: {error}") from None
    if array.ndim != 1:
        raise InvalidScores(which, array.shape, "must be one-dimensional")
    if array.size == 0:
        raise EmptyScores(which)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = int(bad[0])
        raise InvalidScores(which, float(array[index]), "not a finite number", index)
    return array


def _oriented(values: FloatArray, kind: ScoreKind) -> FloatArray:
    """Scores as distances (similarities negated), so one code path serves both."""
    return values if kind is ScoreKind.DISTANCE else -values


def _threshold(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidThreshold(value) from None
    if not math.isfinite(number):
        raise InvalidThreshold(value)
    return number


def _target(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidTargetFmr(value) from None
    if not 0.0 < number < 1.0:  # also rejects NaN
        raise InvalidTargetFmr(value)
    return number


def error_rates(
    genuine: Scores, impostor: Scores, threshold: float, *, kind: ScoreKind = ScoreKind.DISTANCE
) -> ErrorRates:
    """FMR and FNMR at `threshold` (same unit as the scores)."""
    g = _oriented(_scores("genuine", genuine), kind)
    i = _oriented(_scores("impostor", impostor), kind)
    t = _oriented(np.float64(_threshold(threshold)), kind)  # type: ignore[arg-type]
    return ErrorRates(
        fmr=float(np.count_nonzero(i <= t)) / i.size,
        fnmr=float(np.count_nonzero(g > t)) / g.size,
    )


def _distance_curve(g: FloatArray, i: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(thresholds ascending, fmr, fnmr) for distance-oriented scores."""
    g, i = np.sort(g), np.sort(i)
    thresholds = np.unique(np.concatenate([g, i]))
    fmr = np.searchsorted(i, thresholds, side="right") / i.size
    # counts first, then divide: the same float as error_rates gives
    fnmr = (g.size - np.searchsorted(g, thresholds, side="right")) / g.size
    return thresholds, fmr, fnmr


def det_curve(
    genuine: Scores, impostor: Scores, *, kind: ScoreKind = ScoreKind.DISTANCE
) -> DetCurve:
    """The DET curve: FMR and FNMR with every distinct score as the threshold."""
    g = _oriented(_scores("genuine", genuine), kind)
    i = _oriented(_scores("impostor", impostor), kind)
    thresholds, fmr, fnmr = _distance_curve(g, i)
    if kind is ScoreKind.SIMILARITY:  # back to the caller's unit, ascending
        thresholds, fmr, fnmr = -thresholds[::-1], fmr[::-1], fnmr[::-1]
    return DetCurve(
        np.ascontiguousarray(thresholds),
        np.ascontiguousarray(fmr),
        np.ascontiguousarray(fnmr),
        n_genuine=int(g.size),
        n_impostor=int(i.size),
        kind=kind,
    )


def equal_error_rate(
    genuine: Scores, impostor: Scores, *, kind: ScoreKind = ScoreKind.DISTANCE
) -> tuple[float, float]:
    """(EER, threshold) where FMR and FNMR cross.

    Interpolation: walk the DET curve (distance orientation) to the first operating
    point where FMR - FNMR >= 0; between it and the point before, both rates are taken
    as linear in the threshold, and the crossing of the two lines gives the EER and its
    threshold. With separated score sets the EER is 0 at the lowest threshold that
    reaches it. If FMR >= FNMR already at the lowest score, the EER is the mean of the
    two rates there, at that score.
    """
    g = _oriented(_scores("genuine", genuine), kind)
    i = _oriented(_scores("impostor", impostor), kind)
    thresholds, fmr, fnmr = _distance_curve(g, i)
    difference = fmr - fnmr  # non-decreasing; +1 at the largest score (FMR 1, FNMR 0)
    k = int(np.searchsorted(difference, 0.0, side="left"))
    if k == 0:
        eer, at = (fmr[0] + fnmr[0]) / 2.0, thresholds[0]
    else:
        d0, d1 = difference[k - 1], difference[k]
        alpha = -d0 / (d1 - d0)  # in (0, 1]
        eer = fmr[k - 1] + alpha * (fmr[k] - fmr[k - 1])
        at = thresholds[k - 1] + alpha * (thresholds[k] - thresholds[k - 1])
    return float(eer), float(_oriented(np.float64(at), kind))  # type: ignore[arg-type]


def _allowed(target: float, n: int) -> int:
    """The largest count k with k / n <= target (exact despite float rounding)."""
    k = math.floor(target * n)
    while (k + 1) / n <= target:
        k += 1
    while k > 0 and k / n > target:
        k -= 1
    return k


def threshold_for_fmr(
    genuine: Scores,
    impostor: Scores,
    target_fmr: float,
    *,
    kind: ScoreKind = ScoreKind.DISTANCE,
) -> float:
    """The largest threshold among the observed scores whose FMR <= `target_fmr`
    (the most genuine-friendly operating point that keeps the target).

    FMR is a step function that only changes at impostor scores, so this threshold has
    the same FMR and FNMR as any value up to the next impostor score. When even the
    lowest observed score lets too many impostors through, the result is the float just
    below the lowest impostor score (FMR 0). `target_fmr` must lie in (0, 1).
    """
    target = _target(target_fmr)
    g = _oriented(_scores("genuine", genuine), kind)
    i = np.sort(_oriented(_scores("impostor", impostor), kind))
    everything = np.sort(np.concatenate([g, i]))
    bound = i[_allowed(target, i.size)]  # the first impostor score that must not match
    below = int(np.searchsorted(everything, bound, side="left")) - 1
    at = everything[below] if below >= 0 else np.nextafter(bound, -np.inf)
    return float(_oriented(np.float64(at), kind))  # type: ignore[arg-type]


def fnmr_at_fmr(
    genuine: Scores,
    impostor: Scores,
    target_fmr: float,
    *,
    kind: ScoreKind = ScoreKind.DISTANCE,
) -> float:
    """FNMR at `threshold_for_fmr(genuine, impostor, target_fmr)`."""
    threshold = threshold_for_fmr(genuine, impostor, target_fmr, kind=kind)
    return error_rates(genuine, impostor, threshold, kind=kind).fnmr


def _thinned(curve: DetCurve, probit_step: float) -> npt.NDArray[np.intp]:
    """Indices of the rows where either rate enters a new `probit_step`-wide band of the
    probit (DET-plot) scale, plus the last row: a DET plot's resolution, with the
    tails (small rates) kept as finely as the middle."""
    from scipy.special import ndtri

    floor = 0.5 / max(curve.n_genuine, curve.n_impostor, 1)
    bands = [
        np.floor(ndtri(np.clip(rates, floor, 1 - floor)) / probit_step)
        for rates in (curve.fmr, curve.fnmr)
    ]
    new = np.ones(curve.thresholds.size, dtype=bool)
    new[1:] = (np.diff(bands[0]) != 0) | (np.diff(bands[1]) != 0)
    new[-1] = True
    return np.flatnonzero(new)


def _step_rows(
    curve: DetCurve, probit_step: float | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The curve's rows plus a corner row beside each: the rates are a step function of
    the threshold, and the corners make linear interpolation between rows exact."""
    t, fmr, fnmr = curve.thresholds, curve.fmr, curve.fnmr
    if curve.kind is ScoreKind.DISTANCE:
        # rates of row k hold on [t_k, t_k+1); below t_0 nothing matches (FMR 0, FNMR 1)
        corner_t = np.nextafter(t, -np.inf)
        corner_fmr = np.concatenate([[0.0], fmr[:-1]])
        corner_fnmr = np.concatenate([[1.0], fnmr[:-1]])
    else:
        # match when score >= t: rates of row k hold on (t_k-1, t_k]; above the last
        # score nothing matches
        corner_t = np.nextafter(t, np.inf)
        corner_fmr = np.concatenate([fmr[1:], [0.0]])
        corner_fnmr = np.concatenate([fnmr[1:], [1.0]])
    if probit_step is not None:
        rows = _thinned(curve, probit_step)
        t, fmr, fnmr = t[rows], fmr[rows], fnmr[rows]
        corner_t, corner_fmr, corner_fnmr = corner_t[rows], corner_fmr[rows], corner_fnmr[rows]
    keep = ~np.isin(corner_t, t)  # scores one ulp apart need no corner
    thresholds = np.concatenate([t, corner_t[keep]])
    order = np.argsort(thresholds, kind="stable")
    return (
        thresholds[order],
        np.concatenate([fmr, corner_fmr[keep]])[order],
        np.concatenate([fnmr, corner_fnmr[keep]])[order],
    )


def write_det_table(curve: DetCurve, path: Path | str, *, probit_step: float | None = None) -> Path:
    """Write `curve` for the simulator (`sim.det.DetTable.load`): CSV with the header
    `threshold,fmr,fnmr`, thresholds strictly ascending; JSON `{"thresholds", "fmr",
    "fnmr", "kind", "n_genuine", "n_impostor"}` when `path` ends in .json.

    The empirical rates are step functions of the threshold while the simulator
    interpolates linearly between rows, so each row is written with a corner row one
    float below it (distances) carrying the previous rates: interpolation then gives
    exactly the measured FMR and FNMR at any threshold (FMR 0 and FNMR 1 below the
    lowest score). Floats are written with full precision (repr). Returns the path.

    `probit_step` (e.g. 0.01) thins a large curve to the rows where FMR or FNMR enters
    a new band of that width on the probit scale (about 1,000 bands per rate, tails as
    fine as the middle); between kept rows the table is then interpolated, exact only
    at the kept rows and their corners. None (default) writes every row."""
    if probit_step is not None and not (math.isfinite(probit_step) and probit_step > 0):
        raise InvalidParameter("probit_step", probit_step, "a positive finite number")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    thresholds, fmr, fnmr = _step_rows(curve, probit_step)
    if target.suffix.lower() == ".json":
        document = {
            "thresholds": thresholds.tolist(),
            "fmr": fmr.tolist(),
            "fnmr": fnmr.tolist(),
            "kind": curve.kind.value,
            "n_genuine": curve.n_genuine,
            "n_impostor": curve.n_impostor,
        }
        target.write_text(json.dumps(document), encoding="utf-8")
        return target
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("threshold", "fmr", "fnmr"))
        for row in zip(thresholds.tolist(), fmr.tolist(), fnmr.tolist(), strict=True):
            writer.writerow([repr(v) for v in row])
    return target


_PROBIT_TICKS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.02, 0.05, 0.1, 0.2, 0.4)
_PROBIT_CEILING = 0.5
"""Rates above 50% are of no operational interest; a DET plot stops there."""


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"


def plot_det(
    curves: Mapping[str, DetCurve],
    path: Path | str,
    *,
    title: str = "DET curve",
    operating_threshold: float | None = None,
) -> Path:
    """Draw DET curves (FNMR against FMR) on probit-scaled axes, as ISO/IEC 19795-1 DET
    plots are, and save a PNG at `path`. Rates of 0 cannot sit on a probit axis: they
    are drawn at the axis floor, half of the smallest non-zero rate any curve can show
    (1 / (2 x comparisons)); rates above 50% at the ceiling. The axes run a little
    beyond both so that clipped segments stay visible. `operating_threshold`, when
    given, is marked on each curve."""
    if not curves:
        raise NoCurves()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from scipy.special import ndtri

    counts = [c.n_genuine for c in curves.values()] + [c.n_impostor for c in curves.values()]
    largest = max([n for n in counts if n > 0] or [1000])
    floor = max(1e-7, 0.5 / largest)
    ticks = [t for t in _PROBIT_TICKS if floor <= t <= _PROBIT_CEILING]

    def probit(rates: FloatArray) -> FloatArray:
        return np.asarray(ndtri(np.clip(rates, floor, _PROBIT_CEILING)), dtype=np.float64)

    figure, axes = plt.subplots(figsize=(6.4, 6.0), dpi=100)
    try:
        for label, curve in curves.items():
            (line,) = axes.plot(probit(curve.fmr), probit(curve.fnmr), label=label, lw=1.5)
            if operating_threshold is not None and curve.thresholds.size:
                fmr, fnmr = (
                    float(np.interp(operating_threshold, curve.thresholds, r))
                    for r in (curve.fmr, curve.fnmr)
                )
                axes.plot(
                    probit(np.array([fmr])),
                    probit(np.array([fnmr])),
                    "o",
                    color=line.get_color(),
                )
        limit = float(ndtri(floor)), float(ndtri(_PROBIT_CEILING))
        axes.plot(limit, limit, ":", color="grey", lw=1, label="FMR = FNMR")
        margin = 0.03 * (limit[1] - limit[0])
        axes.set_xlim(limit[0] - margin, limit[1] + margin)
        axes.set_ylim(limit[0] - margin, limit[1] + margin)
        axes.set_xticks(ndtri(np.array(ticks)), [_percent(t) for t in ticks])
        axes.set_yticks(ndtri(np.array(ticks)), [_percent(t) for t in ticks])
        axes.set_xlabel("False match rate (FMR), probit scale")
        axes.set_ylabel("False non-match rate (FNMR), probit scale")
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper right")
        figure.tight_layout()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png")
    finally:
        plt.close(figure)
    return target
