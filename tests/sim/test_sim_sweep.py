"""Sweeps: identical results serially, in local processes and on a Dask LocalCluster;
the recommendation picks the fewest resources meeting the service level."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from simcases import small_hall

from sim.kpis import json_ready
from sim.scenario import InvalidValue, UnknownKey
from sim.sweep import (
    Backend,
    _dask_chunks,
    load_sweep,
    local_cluster,
    make_sweep,
    recommend,
    run_sweep,
    write_sweep,
)


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    (tmp_path / "hall.yaml").write_text(
        yaml.safe_dump(
            small_hall(
                arrivals={"poisson": {"rate_per_s": 0.2, "count": 1500}},
                hall={},
                service_levels={"secondary": {"max_wait_s": 7200}},
            )
        ),
        encoding="utf-8",
    )
    (tmp_path / "sweep.yaml").write_text(
        yaml.safe_dump(
            {
                "scenario": "hall.yaml",
                "replications": 2,
                "parameters": {"egates.gates": [1, 2, 6], "desks.roster": [[[0, 1]], [[0, 8]]]},
                "resources": ["egates.gates"],
            }
        ),
        encoding="utf-8",
    )
    return tmp_path / "sweep.yaml"


def test_backends_give_identical_results(sweep_file: Path) -> None:
    sweep = load_sweep(sweep_file)
    assert sweep.runs == 12
    serial = run_sweep(sweep, backend=Backend.SERIAL)
    local = run_sweep(sweep, backend=Backend.PROCESSES, workers=2)
    dask = run_sweep(sweep, backend=Backend.DASK, workers=2)
    # json_ready turns NaN (no traveller in that hour) into None, which compares equal.
    assert json_ready(serial.kpis) == json_ready(local.kpis) == json_ready(dask.kpis)
    assert json_ready(serial.summaries) == json_ready(dask.summaries)


def test_local_cluster_workers_keep_glibc_dynamic_malloc_thresholds() -> None:
    """Dask's default MALLOC_TRIM_THRESHOLD_ makes every large numpy array an mmap; the
    sweep's own cluster must start its workers without it, with the simulator loaded and
    Dask's event-loop monitors slowed down."""
    import dask
    import distributed

    cluster = local_cluster(1)
    try:
        with distributed.Client(cluster) as client:
            seen = client.run(
                lambda: (
                    os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                    "sim.runner" in sys.modules,
                    dask.config.get("distributed.worker.profile.enabled"),
                    dask.config.get("distributed.admin.tick.interval"),
                )
            )
    finally:
        cluster.close()
    assert list(seen.values()) == [(None, True, False, "1s")]


@given(replications=st.integers(1, 50), runs=st.integers(1, 5000), threads=st.integers(0, 64))
def test_dask_chunks_cover_every_replication_once(
    replications: int, runs: int, threads: int
) -> None:
    chunks = _dask_chunks(replications, runs, threads)
    assert [k for chunk in chunks for k in chunk] == list(range(replications))
    assert all(chunks)


def test_recommendation_and_outputs(sweep_file: Path, tmp_path: Path) -> None:
    result = run_sweep(load_sweep(sweep_file), backend=Backend.SERIAL)
    recs = recommend(result)
    assert [r.context for r in recs] == [{"desks.roster": [[0, 1]]}, {"desks.roster": [[0, 8]]}]
    # About 4 Erlangs of e-gate work (0.2 a second, ~55% at the gates, ~36 s each) and
    # 4.5 of desk work: with 8 desks, 6 gates meet the level in every hour, 1 gate in none.
    for hour, best in recs[1].by_hour.items():
        assert best is not None, hour
        assert best["egates.gates"] in (2, 6)
    assert 6 in [best["egates.gates"] for best in recs[1].by_hour.values() if best]
    # One desk cannot keep the desk queue under 5 minutes at any gate count.
    assert all(best is None for best in recs[0].by_hour.values())
    paths = write_sweep(result, tmp_path / "out")
    assert paths["service_level"].read_bytes()[:4] == b"\x89PNG"
    assert '"recommendation"' in paths["sweep"].read_text(encoding="utf-8")


def test_sweep_errors_name_the_point() -> None:
    with pytest.raises(
        InvalidValue,
        match=r"egates\.gates: must be >= 0\.0 \(sweep point \{'egates\.gates': -3\}\) \(got -3\)",
    ):
        make_sweep(small_hall(), Path("."), {"egates.gates": [2, -3]})
    with pytest.raises(InvalidValue, match="not a swept parameter"):
        make_sweep(small_hall(), Path("."), {"egates.gates": [2]}, resources=["desks.staff"])


def test_unknown_sweep_key(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("scenario: demo\nparameterz: {}\n", encoding="utf-8")
    with pytest.raises(UnknownKey, match="parameterz: unknown key"):
        load_sweep(tmp_path / "s.yaml")
