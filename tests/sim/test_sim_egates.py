"""The e-gate service: DET-table FNMR at the threshold, attempts, referrals, timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from simcases import small_hall

from egate.gate import ReferralReason
from sim.det import DetTable, DetTableError
from sim.egates import GateOutcome, draw_transactions
from sim.scenario import InvalidValue, parse_scenario
from sim.streams import Streams


def test_default_det_table_is_dlib_lfw_operating_point() -> None:
    fmr, fnmr = DetTable.default().at(0.6)
    assert fmr == pytest.approx(0.0062, abs=2e-4)
    assert fnmr == pytest.approx(0.0062, abs=2e-4)
    stricter = DetTable.default().at(0.5)
    assert stricter[0] < fmr
    assert stricter[1] > fnmr


def test_det_table_files(tmp_path: Path) -> None:
    (tmp_path / "det.csv").write_text(
        "threshold,fmr,fnmr\n0.7,0.01,0.001\n0.5,0.0001,0.2\n", encoding="utf-8"
    )
    table = DetTable.load(tmp_path / "det.csv")
    assert table.at(0.6) == pytest.approx((0.00505, 0.1005))
    (tmp_path / "det.json").write_text(
        json.dumps({"thresholds": [0.5, 0.7], "fmr": [0.0001, 0.01], "fnmr": [0.2, 0.001]})
    )
    assert DetTable.load(tmp_path / "det.json").at(0.6) == table.at(0.6)
    (tmp_path / "bad.csv").write_text(
        "threshold,fmr,fnmr\n0.5,0.1,1.5\n0.6,0.1,0.2\n", encoding="utf-8"
    )
    with pytest.raises(DetTableError, match=r"bad.csv: rates must lie in \[0, 1\] \(got 'fnmr'\)"):
        DetTable.load(tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("threshold,fmr,fnmr\nlow,0.1,0.1\n", encoding="utf-8")
    with pytest.raises(DetTableError, match=r"text\.csv line 2: not a number"):
        DetTable.load(tmp_path / "text.csv")
    tied = DetTable.from_arrays(
        [0.7, 0.5, 0.5, 0.6], [0.01, 0.0001, 0.0002, 0.001], [0.001, 0.2, 0.3, 0.05]
    )
    assert tied.thresholds.tolist() == [0.5, 0.6, 0.7]
    assert tied.fnmr.tolist() == [0.2, 0.05, 0.001]
    data = small_hall(egates={"gates": 2, "det_table": "missing.csv"})
    with pytest.raises(InvalidValue, match=r"egates\.det_table: .*cannot read"):
        parse_scenario(data, tmp_path)


def _outcomes(threshold: float, **egates: object) -> np.ndarray:
    s = parse_scenario(
        small_hall(
            arrivals={"poisson": {"rate_per_s": 1, "count": 50_000}},
            egates={"gates": 4, "threshold": threshold, **egates},
        )
    )
    t = s.arrivals.travellers(Streams(3, 0), s.mix, 1.0)
    return draw_transactions(s.egates, t, Streams(3, 0)).outcome


def test_stricter_threshold_refers_more_travellers_for_no_match() -> None:
    loose, strict = _outcomes(0.6), _outcomes(0.45)
    # Common random numbers: a traveller matched at the strict threshold also matches loosely.
    assert np.all((strict == GateOutcome.ACCEPT) <= (loose == GateOutcome.ACCEPT))
    fnmr = DetTable.default().at(0.45)[1]
    # Three failed attempts (FTA 5%, else FNMR), the last a non-match, among travellers
    # without a document failure (5%) or a watchlist hit (1%): about 0.57%.
    failed_attempt = 0.05 + 0.95 * fnmr
    expected = failed_attempt**2 * 0.95 * fnmr * (1 - 0.05 - 0.01)
    no_match = np.mean(strict == GateOutcome.NO_MATCH)
    assert no_match == pytest.approx(expected, rel=0.15)
    assert np.mean(loose == GateOutcome.NO_MATCH) < no_match / 5


def test_outcomes_map_to_the_gate_state_machine_reasons() -> None:
    assert GateOutcome.ACCEPT.referral is None
    assert GateOutcome.NO_MATCH.referral is ReferralReason.NO_MATCH
    assert GateOutcome.TIMEOUT.referral is ReferralReason.TIMEOUT


def test_transaction_timeout_ends_long_transactions() -> None:
    outcomes = _outcomes(
        0.6, transaction_timeout_s=20.0, steps={"read_s": {"dist": "uniform", "low": 3, "high": 15}}
    )
    # read (3-15 s) + capture (~6 s) + match (1 s) passes 20 s for roughly one in five.
    share = np.mean(outcomes == GateOutcome.TIMEOUT)
    assert 0.1 < share < 0.3
    assert np.mean(_outcomes(0.6) == GateOutcome.TIMEOUT) < 0.001  # policy default 60 s


def test_service_time_mean_near_drt_default() -> None:
    s = parse_scenario(small_hall(arrivals={"poisson": {"rate_per_s": 1, "count": 50_000}}))
    t = s.arrivals.travellers(Streams(1, 0), s.mix, 1.0)
    tx = draw_transactions(s.egates, t, Streams(1, 0))
    accepted = tx.outcome == GateOutcome.ACCEPT
    # notes: DRT e-gate processing time 36 s default, Edinburgh 45 s.
    assert 33 < tx.service_s[accepted].mean() < 45
