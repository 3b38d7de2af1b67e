"""ISO/IEC 19795-1 error rates, DET curve, EER and thresholds (biometrics.evaluation)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from biometrics.evaluation import (
    DetCurve,
    EmptyScores,
    ErrorRates,
    EvaluationError,
    InvalidParameter,
    InvalidScores,
    InvalidTargetFmr,
    InvalidThreshold,
    NoCurves,
    ScoreKind,
    det_curve,
    equal_error_rate,
    error_rates,
    fnmr_at_fmr,
    plot_det,
    threshold_for_fmr,
    write_det_table,
)
from sim.det import DetTable

GENUINE = [0.2, 0.3, 0.4, 0.5, 0.7]
IMPOSTOR = [0.45, 0.6, 0.8, 0.9]

finite = st.floats(min_value=0.0, max_value=2.0, allow_nan=False, width=32)
score_sets = st.lists(finite, min_size=1, max_size=40)


def test_error_rates_by_hand() -> None:
    # at 0.5: impostors <= 0.5: {0.45} -> 1/4; genuine > 0.5: {0.7} -> 1/5
    rates = error_rates(GENUINE, IMPOSTOR, 0.5)
    assert (rates.fmr, rates.fnmr) == (0.25, 0.2)
    # the threshold itself matches (distance <= threshold)
    assert error_rates(GENUINE, IMPOSTOR, 0.6).fmr == 0.5
    assert error_rates(GENUINE, IMPOSTOR, 0.7).fnmr == 0.0
    assert error_rates(GENUINE, IMPOSTOR, 0.1) == ErrorRates(0.0, 1.0)


def test_det_curve_by_hand() -> None:
    curve = det_curve(GENUINE, IMPOSTOR)
    assert curve.thresholds.tolist() == [0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert curve.fmr.tolist() == [0, 0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1.0]
    assert curve.fnmr.tolist() == pytest.approx([0.8, 0.6, 0.4, 0.4, 0.2, 0.2, 0, 0, 0])
    assert (curve.n_genuine, curve.n_impostor) == (5, 4)


def test_det_curve_ties_between_sets() -> None:
    curve = det_curve([0.5, 0.5, 0.7], [0.5, 0.9])
    assert curve.thresholds.tolist() == [0.5, 0.7, 0.9]
    assert curve.fmr.tolist() == [0.5, 0.5, 1.0]
    assert curve.fnmr.tolist() == pytest.approx([1 / 3, 0, 0])


def test_equal_error_rate_interpolates_between_operating_points() -> None:
    # FMR - FNMR: ... at 0.45: 0.25 - 0.4 = -0.15; at 0.5: 0.25 - 0.2 = 0.05.
    # alpha = 0.15 / 0.2 = 0.75 -> EER = 0.25, threshold = 0.45 + 0.75 * 0.05 = 0.4875
    eer, threshold = equal_error_rate(GENUINE, IMPOSTOR)
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.4875)


def test_equal_error_rate_of_separated_sets_is_zero() -> None:
    eer, threshold = equal_error_rate([0.3, 0.4], [0.8, 0.9])
    assert (eer, threshold) == (0.0, 0.4)


def test_equal_error_rate_when_the_lowest_score_is_an_impostor() -> None:
    # at 0.1: FMR 1/2, FNMR 1 -> difference < 0 ... at 0.5 FMR 1/2 FNMR 0
    eer, threshold = equal_error_rate([0.5], [0.1, 0.9])
    assert eer == pytest.approx(0.5)
    assert 0.1 <= threshold <= 0.5
    eer, threshold = equal_error_rate([0.5], [0.5])
    assert (eer, threshold) == (0.5, 0.5)


def test_threshold_for_fmr_by_hand() -> None:
    # 4 impostors: target 0.25 lets the lowest (0.45) match -> largest score below 0.6 is 0.5
    assert threshold_for_fmr(GENUINE, IMPOSTOR, 0.25) == 0.5
    assert threshold_for_fmr(GENUINE, IMPOSTOR, 0.3) == 0.5
    # target 0.2 allows none -> largest score below 0.45
    assert threshold_for_fmr(GENUINE, IMPOSTOR, 0.2) == 0.4
    assert threshold_for_fmr(GENUINE, IMPOSTOR, 0.999) == 0.8
    assert fnmr_at_fmr(GENUINE, IMPOSTOR, 0.2) == pytest.approx(0.4)
    assert fnmr_at_fmr(GENUINE, IMPOSTOR, 0.25) == pytest.approx(0.2)


def test_threshold_for_fmr_below_every_score() -> None:
    threshold = threshold_for_fmr([0.5], [0.1, 0.9], 0.1)
    assert threshold < 0.1
    assert threshold == np.nextafter(0.1, -1)
    assert error_rates([0.5], [0.1, 0.9], threshold).fmr == 0.0


def test_similarity_scores_flip_the_comparison() -> None:
    genuine = [-g for g in GENUINE]
    impostor = [-i for i in IMPOSTOR]
    kind = ScoreKind.SIMILARITY
    assert error_rates(genuine, impostor, -0.5, kind=kind) == error_rates(GENUINE, IMPOSTOR, 0.5)
    curve = det_curve(genuine, impostor, kind=kind)
    assert np.all(np.diff(curve.thresholds) > 0)
    assert curve.fmr.tolist() == [1.0, 0.75, 0.5, 0.5, 0.25, 0.25, 0, 0, 0]
    eer, at = equal_error_rate(genuine, impostor, kind=kind)
    assert (eer, at) == pytest.approx((0.25, -0.4875))
    assert threshold_for_fmr(genuine, impostor, 0.25, kind=kind) == -0.5


@pytest.mark.parametrize(
    ("genuine", "impostor", "error", "match"),
    [
        ([], [0.5], EmptyScores, "no genuine scores"),
        ([0.5], np.array([]), EmptyScores, "no impostor scores"),
        ([0.5, math.nan], [0.5], InvalidScores, r"genuine scores\[1\]: not a finite number"),
        ([0.5], [math.inf], InvalidScores, r"impostor scores\[0\]: not a finite number"),
        ([[0.5]], [0.5], InvalidScores, "one-dimensional"),
        (["a"], [0.5], InvalidScores, "not numbers"),
    ],
)
def test_bad_score_sets_are_typed_errors(
    genuine: object, impostor: object, error: type[EvaluationError], match: str
) -> None:
    for call in (
        lambda: error_rates(genuine, impostor, 0.6),  # type: ignore[arg-type]
        lambda: det_curve(genuine, impostor),  # type: ignore[arg-type]
        lambda: equal_error_rate(genuine, impostor),  # type: ignore[arg-type]
        lambda: threshold_for_fmr(genuine, impostor, 0.01),  # type: ignore[arg-type]
    ):
        with pytest.raises(error, match=match) as info:
            call()
        assert info.value.code in {"empty_scores", "invalid_scores"}


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.5, math.nan, "x"])
def test_target_fmr_outside_the_open_unit_interval(target: object) -> None:
    with pytest.raises(InvalidTargetFmr, match="strictly between 0 and 1") as info:
        threshold_for_fmr(GENUINE, IMPOSTOR, target)  # type: ignore[arg-type]
    assert info.value.code == "invalid_target_fmr"
    with pytest.raises(InvalidTargetFmr):
        fnmr_at_fmr(GENUINE, IMPOSTOR, target)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [math.nan, math.inf, "0.6x"])
def test_bad_threshold(threshold: object) -> None:
    with pytest.raises(InvalidThreshold, match="finite number") as info:
        error_rates(GENUINE, IMPOSTOR, threshold)  # type: ignore[arg-type]
    assert info.value.code == "invalid_threshold"


@settings(max_examples=150, deadline=None)
@given(score_sets, score_sets)
def test_det_curve_is_monotone_and_agrees_with_error_rates(
    genuine: list[float], impostor: list[float]
) -> None:
    curve = det_curve(genuine, impostor)
    assert np.all(np.diff(curve.thresholds) > 0)
    assert np.all(np.diff(curve.fmr) >= 0)
    assert np.all(np.diff(curve.fnmr) <= 0)
    for column in (curve.fmr, curve.fnmr):
        assert np.all((column >= 0) & (column <= 1))
    assert curve.fmr[-1] == 1.0
    assert curve.fnmr[-1] == 0.0
    for n in range(0, len(curve.thresholds), max(1, len(curve.thresholds) // 5)):
        rates = error_rates(genuine, impostor, float(curve.thresholds[n]))
        assert rates.fmr == pytest.approx(curve.fmr[n])
        assert rates.fnmr == pytest.approx(curve.fnmr[n])


@settings(max_examples=150, deadline=None)
@given(score_sets, score_sets, st.floats(min_value=1e-6, max_value=0.999999))
def test_threshold_for_fmr_keeps_the_target_and_is_the_largest(
    genuine: list[float], impostor: list[float], target: float
) -> None:
    threshold = threshold_for_fmr(genuine, impostor, target)
    assert error_rates(genuine, impostor, threshold).fmr <= target
    # any larger observed score would break the target
    larger = sorted(s for s in set(genuine) | set(impostor) if s > threshold)
    if larger:
        assert error_rates(genuine, impostor, larger[0]).fmr > target
    fnmr = fnmr_at_fmr(genuine, impostor, target)
    assert 0.0 <= fnmr <= 1.0


@settings(max_examples=150, deadline=None)
@given(score_sets, score_sets)
def test_eer_lies_between_the_rates_it_interpolates(
    genuine: list[float], impostor: list[float]
) -> None:
    eer, threshold = equal_error_rate(genuine, impostor)
    assert 0.0 <= eer <= 1.0
    assert min(genuine + impostor) <= threshold <= max(genuine + impostor)
    # FMR - FNMR changes sign at the EER: no operating point has both rates below it,
    # none both above it
    curve = det_curve(genuine, impostor)
    assert np.max(np.minimum(curve.fmr, curve.fnmr)) <= eer + 1e-12
    assert eer <= np.min(np.maximum(curve.fmr, curve.fnmr)) + 1e-12


def test_a_million_scores() -> None:
    rng = np.random.default_rng(7)
    genuine = rng.normal(0.35, 0.1, 1_000_000)
    impostor = rng.normal(0.85, 0.1, 1_000_000)
    curve = det_curve(genuine, impostor)
    assert curve.thresholds.size == 2_000_000
    eer, threshold = equal_error_rate(genuine, impostor)
    # normal tails: the crossing is at 0.6, 2.5 sd from both means -> 0.62%
    assert eer == pytest.approx(0.00621, abs=5e-4)
    assert threshold == pytest.approx(0.6, abs=0.005)
    assert fnmr_at_fmr(genuine, impostor, 0.001) == pytest.approx(0.0289, abs=0.002)


def test_det_table_round_trips_through_the_simulator(tmp_path: Path) -> None:
    curve = det_curve(GENUINE, IMPOSTOR)
    for name in ("det.csv", "det.json"):
        path = write_det_table(curve, tmp_path / name)
        table = DetTable.load(path)
        # every measured row is there, with its corner one float below
        assert set(curve.thresholds.tolist()) <= set(table.thresholds.tolist())
        assert len(table.thresholds) == 2 * len(curve.thresholds)
        # the simulator's linear interpolation gives the measured step function
        for t in [0.0, 0.2, 0.25, 0.449, 0.45, 0.5, 0.55, 0.6, 0.65, 0.9, 1.5]:
            rates = error_rates(GENUINE, IMPOSTOR, t)
            assert table.at(t) == pytest.approx((rates.fmr, rates.fnmr)), t
    header = (tmp_path / "det.csv").read_text().splitlines()[0]
    assert header == "threshold,fmr,fnmr"


@settings(max_examples=60, deadline=None)
@given(score_sets, score_sets, st.lists(st.floats(-0.5, 2.5), min_size=1, max_size=10))
def test_simulator_reads_the_measured_rates_at_any_threshold(
    tmp_path_factory: pytest.TempPathFactory,
    genuine: list[float],
    impostor: list[float],
    probes: list[float],
) -> None:
    curve = det_curve(genuine, impostor)
    path = write_det_table(curve, tmp_path_factory.mktemp("det") / "det.csv")
    table = DetTable.load(path)
    for t in probes + curve.thresholds.tolist():
        rates = error_rates(genuine, impostor, t)
        assert table.at(t) == pytest.approx((rates.fmr, rates.fnmr), abs=1e-12), t


def test_similarity_det_table_has_corners_above_each_score(tmp_path: Path) -> None:
    genuine, impostor = [-g for g in GENUINE], [-i for i in IMPOSTOR]
    kind = ScoreKind.SIMILARITY
    path = write_det_table(det_curve(genuine, impostor, kind=kind), tmp_path / "det.json")
    document = json.loads(path.read_text())
    assert document["kind"] == "similarity"
    thresholds = document["thresholds"]
    assert thresholds == sorted(thresholds)
    assert len(thresholds) == 18
    for t, fmr, fnmr in zip(thresholds, document["fmr"], document["fnmr"], strict=True):
        assert error_rates(genuine, impostor, t, kind=kind) == ErrorRates(fmr, fnmr), t
    # above the highest score nothing matches
    assert (document["fmr"][-1], document["fnmr"][-1]) == (0.0, 1.0)


def test_a_large_det_table_is_thinned_on_the_probit_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    genuine, impostor = rng.normal(0.35, 0.1, 100_000), rng.normal(0.85, 0.1, 100_000)
    curve = det_curve(genuine, impostor)
    table = DetTable.load(write_det_table(curve, tmp_path / "det.csv", probit_step=0.01))
    assert len(table.thresholds) < 0.05 * 2 * len(curve.thresholds)
    for t in (0.45, 0.55, 0.6, 0.65, 0.75):
        rates = error_rates(genuine, impostor, t)
        fmr, fnmr = table.at(t)
        # within one 0.01 band on the probit scale: a few percent of the rate
        assert fmr == pytest.approx(rates.fmr, rel=0.05, abs=2e-5)
        assert fnmr == pytest.approx(rates.fnmr, rel=0.05, abs=2e-5)
    with pytest.raises(InvalidParameter, match="probit_step must be a positive") as info:
        write_det_table(curve, tmp_path / "bad.csv", probit_step=0.0)
    assert info.value.code == "invalid_parameter"


def test_plot_det_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    curves = {
        "model A": det_curve(rng.normal(0.35, 0.1, 2000), rng.normal(0.85, 0.1, 5000)),
        "tiny": det_curve(GENUINE, IMPOSTOR),
    }
    path = plot_det(curves, tmp_path / "out" / "det.png", operating_threshold=0.6)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (640, 600)
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 100  # something was drawn
    with pytest.raises(NoCurves, match="at least one"):
        plot_det({}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_det_curve_is_frozen() -> None:
    curve = det_curve(GENUINE, IMPOSTOR)
    assert isinstance(curve, DetCurve)
    with pytest.raises(AttributeError):
        curve.n_genuine = 3  # type: ignore[misc]
