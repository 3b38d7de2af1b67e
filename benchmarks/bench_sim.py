"""Border hall simulator: travellers simulated per second.

    .venv/bin/python benchmarks/bench_sim.py [mmc] [peak] [sweep] [--quick]

- mmc: the M/M/10 queue at rho = 0.9 (the built-in `mmc` scenario, 200,000 customers),
  ours (the full hall model: scenario, variates, SimPy run, records) against Ciw on the
  same network, one after the other in this process; median of alternating repeats,
  warm-up discarded; prints the ratio (target: ours at least 2x Ciw).
- peak: a peak day of ~100,000 arrivals over 300 flights with 40 e-gates and 30 desks,
  seconds per replication on one core (target: under 5 s).
- sweep: 200 runs (20 points x 10 replications of a 30,000-customer M/M/c hall) on a
  Dask LocalCluster of 2 worker processes against one process, 3 alternating rounds,
  median of the per-round ratios (target: speed-up >= 1.7).
Writes benchmarks/results/sim_<part>.json with the machine and library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no threaded BLAS in numpy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_model, results_path  # noqa: E402
from sim.hall import simulate  # noqa: E402
from sim.scenario import builtin_path, load_scenario  # noqa: E402


def machine() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "simpy": version("simpy"),
        "numpy": version("numpy"),
        "ciw (peer)": version("ciw"),
        "dask": version("dask"),
        "distributed": version("distributed"),
        "load_average": os.getloadavg(),
        "note": "2-core machine shared with other helpers' work",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


QUICK = False  # --quick: a smoke test, results not written


def write(name: str, data: dict[str, object]) -> None:
    if QUICK:
        print("(--quick: results not written)")
        return
    data["machine"] = machine()
    data["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = results_path(f"sim_{name}.json")
    out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    print(f"-> {out}")


def ciw_mmc(customers: int, seed: int) -> tuple[float, float]:
    """Seconds to simulate `customers` through Ciw's M/M/10 (rho 0.9), and their mean wait."""
    import ciw

    start = time.perf_counter()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=9.0)],
        service_distributions=[ciw.dists.Exponential(rate=1.0)],
        number_of_servers=[10],
    )
    ciw.seed(seed)
    q = ciw.Simulation(network)
    q.simulate_until_max_customers(customers, method="Finish")
    elapsed = time.perf_counter() - start
    waits = [r.waiting_time for r in q.get_all_records()]
    return elapsed, statistics.fmean(waits)


def bench_mmc(repeats: int, customers: int) -> None:
    scenario = load_scenario(builtin_path("mmc"), {"arrivals.poisson.count": customers})
    simulate(scenario, 99)  # warm-up
    ciw_mmc(20_000, 99)
    ours, peer, ours_wait, peer_wait = [], [], [], []
    for k in range(repeats):
        start = time.perf_counter()
        r = simulate(scenario, k)
        ours.append(time.perf_counter() - start)
        ours_wait.append(float((r.desk_start_s - r.desk_join_s).mean()))
        t, w = ciw_mmc(customers, k)
        peer.append(t)
        peer_wait.append(w)
    ours_rate = customers / statistics.median(ours)
    peer_rate = customers / statistics.median(peer)
    print(f"M/M/10 rho 0.9, {customers} customers, median of {repeats}:")
    print(
        f"  ours {ours_rate:,.0f} customers/s ({statistics.median(ours):.2f} s), "
        f"mean wait {statistics.fmean(ours_wait):.4f}"
    )
    print(
        f"  Ciw  {peer_rate:,.0f} customers/s ({statistics.median(peer):.2f} s), "
        f"mean wait {statistics.fmean(peer_wait):.4f}  (Erlang C: 0.6687)"
    )
    print(f"  ratio ours / Ciw = {ours_rate / peer_rate:.2f}x (target >= 2)")
    write(
        "mmc",
        {
            "customers": customers,
            "repeats": repeats,
            "ours_s": ours,
            "ciw_s": peer,
            "ours_customers_per_s": ours_rate,
            "ciw_customers_per_s": peer_rate,
            "ratio": ours_rate / peer_rate,
            "ours_mean_wait": ours_wait,
            "ciw_mean_wait": peer_wait,
        },
    )


def bench_peak(repeats: int) -> None:
    scenario = load_scenario(builtin_path("demo"), {"egates.gates": 40, "desks.staff": 30})
    simulate(scenario, 99)  # warm-up
    times, travellers = [], []
    for k in range(repeats):
        start = time.perf_counter()
        r = simulate(scenario, k)
        times.append(time.perf_counter() - start)
        travellers.append(len(r))
    med = statistics.median(times)
    mean_n = statistics.fmean(travellers)
    print(f"Peak day, 300 flights, 40 e-gates, 30 desks: {mean_n:,.0f} arrivals,")
    print(
        f"  median {med:.2f} s per replication ({mean_n / med:,.0f} travellers/s) "
        f"over {repeats}; target < 5 s"
    )
    write(
        "peak",
        {
            "repeats": repeats,
            "seconds": times,
            "median_s": med,
            "travellers": travellers,
            "travellers_per_s": statistics.fmean(travellers) / med,
        },
    )


def bench_sweep(points: int, replications: int, customers: int, rounds: int) -> None:
    from sim.scenario import read_mapping
    from sim.sweep import Backend, local_cluster, make_sweep, run_sweep

    base = read_mapping(builtin_path("mmc"))
    base["arrivals"]["poisson"]["count"] = customers
    rates = [round(6.0 + 3.0 * k / (points - 1), 3) for k in range(points)]
    sweep = make_sweep(
        base,
        builtin_path("mmc").parent,
        {"arrivals.poisson.rate_per_s": rates},
        replications=replications,
        resources=[],
    )
    from sim.kpis import json_ready

    # Rounds alternate the three ways so that a noisy stretch of a shared host hits all of
    # them; the ratio reported is the median of the per-round ratios. Each round starts its
    # own cluster and closes it before the one-process run, whose process would otherwise
    # share its GIL with the scheduler's event loop.
    times: dict[str, list[float]] = {"dask": [], "serial": [], "pool": [], "cluster_start": []}
    same = True
    for _ in range(rounds):
        start = time.perf_counter()
        cluster = local_cluster(2)  # the LocalCluster `egate sim sweep` starts
        times["cluster_start"].append(time.perf_counter() - start)
        try:
            start = time.perf_counter()
            dask = run_sweep(sweep, backend=Backend.DASK, scheduler=cluster.scheduler_address)
            times["dask"].append(time.perf_counter() - start)
        finally:
            cluster.close()
        start = time.perf_counter()
        serial = run_sweep(sweep, backend=Backend.SERIAL)
        times["serial"].append(time.perf_counter() - start)
        # The same sweep on a plain local process pool: separates Dask's overhead from
        # what two processes can get out of this machine at all.
        start = time.perf_counter()
        pool = run_sweep(sweep, backend=Backend.PROCESSES, workers=2)
        times["pool"].append(time.perf_counter() - start)
        kpis = [json_ready(r.kpis) for r in (dask, serial, pool)]
        same = same and kpis[0] == kpis[1] == kpis[2]
    cluster_start_s = statistics.median(times["cluster_start"])
    speedups = [s / d for s, d in zip(times["serial"], times["dask"], strict=True)]
    pool_speedups = [s / p for s, p in zip(times["serial"], times["pool"], strict=True)]
    serial_s, dask_s, pool_s = (statistics.median(times[k]) for k in ("serial", "dask", "pool"))
    speedup = statistics.median(speedups)
    print(f"Sweep of {sweep.runs} runs ({customers} customers each), {rounds} rounds:")
    print(
        f"  one process {serial_s:.1f} s, Dask LocalCluster (2 workers) {dask_s:.1f} s (medians): "
        f"speed-up {speedup:.2f}x, median of rounds "
        f"{', '.join(f'{x:.2f}' for x in speedups)} (target >= 1.7); identical results: {same}"
    )
    print(
        f"  local process pool (2): {pool_s:.1f} s, "
        f"speed-up {statistics.median(pool_speedups):.2f}x"
        f" (rounds {', '.join(f'{x:.2f}' for x in pool_speedups)})"
    )
    print(
        f"  cluster start {cluster_start_s:.1f} s; counting it once, speed-up "
        f"{serial_s / (dask_s + cluster_start_s):.2f}x"
    )
    write(
        "sweep",
        {
            "runs": sweep.runs,
            "customers_per_run": customers,
            "rounds": rounds,
            "serial_s": times["serial"],
            "dask_2_workers_s": times["dask"],
            "process_pool_2_s": times["pool"],
            "cluster_start_s": times["cluster_start"],
            "speedups": speedups,
            "speedup": speedup,
            "speedup_with_cluster_start": serial_s / (dask_s + cluster_start_s),
            "process_pool_speedup": statistics.median(pool_speedups),
            "identical": same,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", help="mmc, peak, sweep (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats and smaller runs (smoke test)"
    )
    args = parser.parse_args()
    quick = args.quick
    global QUICK
    QUICK = quick
    args.parts = args.parts or ["mmc", "peak", "sweep"]
    unknown = set(args.parts) - {"mmc", "peak", "sweep"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}")
    if "mmc" in args.parts:
        bench_mmc(repeats=1 if quick else 5, customers=20_000 if quick else 200_000)
    if "peak" in args.parts:
        bench_peak(repeats=1 if quick else 5)
    if "sweep" in args.parts:
        bench_sweep(
            points=4 if quick else 20,
            replications=2 if quick else 10,
            customers=5_000 if quick else 30_000,
            rounds=1 if quick else 3,
        )


if __name__ == "__main__":
    main()
