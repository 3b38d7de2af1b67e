"""What a planner reads: the summary table printed by the CLI, the PNG plots (queue
length over time, waiting-time distribution per queue) and a self-contained HTML
report (plots embedded as data URIs, no external resources)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.kpis import Estimate, Summary
from sim.records import Records

if TYPE_CHECKING:
    from sim.runner import RunResult
    from sim.scenario import Scenario


def _fmt(e: Estimate, scale: float = 1.0, digits: int = 1) -> str:
    if e.n == 0 or math.isnan(e.mean):
        return "-"
    if math.isnan(e.low):
        return f"{e.mean * scale:.{digits}f}"
    half = (e.high - e.low) / 2 * scale
    return f"{e.mean * scale:.{digits}f} ± {half:.{digits}f}"


COLUMNS = (
    ("served", "served", 1.0, 0),
    ("wait_p50_s", "p50 wait min", 1 / 60, 1),
    ("wait_p95_s", "p95 wait min", 1 / 60, 1),
    ("wait_p99_s", "p99 wait min", 1 / 60, 1),
    ("wait_max_s", "max wait min", 1 / 60, 1),
    ("within_sl", "within SL %", 100.0, 1),
    ("utilisation", "utilisation %", 100.0, 1),
    ("length_max", "max queue", 1.0, 0),
)


def summary_rows(summary: Summary, scenario: Scenario) -> list[list[str]]:
    """The KPI table: one row per queue, each cell a mean ± 95% CI half-width. Waits are in
    minutes, or in seconds when every queue's p99 is under a minute (queueing checks)."""
    p99 = [m["wait_p99_s"].mean for m in summary.queues.values() if m["wait_p99_s"].n]
    seconds = bool(p99) and max(p99) < 60
    columns = [
        (key, label.replace(" min", " s"), 1.0, 2) if seconds and label.endswith(" min") else c
        for c in COLUMNS
        for key, label, _, _ in [c]
    ]
    rows = [["queue", "SL", *[c[1] for c in columns]]]
    for q, metrics in summary.queues.items():
        sl = scenario.service_level(q)
        rows.append(
            [q, f"{sl.share:.0%}<{sl.max_wait_s / 60:g}m"]
            + [_fmt(metrics[key], scale, digits) for key, _, scale, digits in columns]
        )
    return rows


def summary_table(summary: Summary, scenario: Scenario) -> str:
    """The KPI table as aligned text, plus referrals and time over hall capacity."""
    rows = summary_rows(summary, scenario)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    referrals = ", ".join(
        f"{k} {_fmt(v, 100, 2)}%" for k, v in summary.referral_rate.items() if v.mean > 0
    )
    lines.append("")
    lines.append(f"e-gate referrals (share of gate users): {referrals or 'none'}")
    lines.append(
        f"hall over capacity: {_fmt(summary.over_capacity_s, 1 / 60)} min; "
        f"p95 time arrival to exit: {_fmt(summary.time_in_hall_p95_s, 1 / 60)} min"
    )
    lines.append(f"({summary.replications} replications; ± is the 95% confidence half-width)")
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_queue_lengths(records: Records, scenario: Scenario, path: Path) -> Path:
    """Queue length (travellers waiting) over the day, one line per queue, one replication."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, log in records.logs.items():
        if len(log.times_s) > 1:
            ax.step(log.times_s / 3600, log.lengths, where="post", label=name, linewidth=0.8)
    ax.set_xlabel("hour of day")
    ax.set_ylabel("travellers waiting")
    ax.set_title(f"{scenario.name}: queue length over time (replication {records.replication})")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def waits_by_queue(records: Sequence[Records], scenario: Scenario) -> dict[str, np.ndarray]:
    """Waiting times (s) per queue, pooled over replications."""
    from sim.kpis import _queue_parts

    out = {}
    for q in scenario.queues:
        parts = [_queue_parts(r, q) for r in records]
        out[q] = np.concatenate([s - j for j, s, _ in parts]) if parts else np.array([])
    return out


def plot_waiting_times(records: Sequence[Records], scenario: Scenario, path: Path) -> Path:
    """Distribution of waiting times per queue (empirical CDF, minutes) with each service level."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for q, w in waits_by_queue(records, scenario).items():
        if len(w):
            x = np.sort(w) / 60
            ax.plot(x, np.arange(1, len(x) + 1) / len(x), label=f"{q} (n={len(x)})")
            ax.axvline(scenario.service_level(q).max_wait_s / 60, linestyle=":", linewidth=0.8)
    ax.set_xlabel("waiting time (minutes)")
    ax.set_ylabel("share of travellers waiting at most")
    ax.set_title(f"{scenario.name}: waiting-time distribution per queue (dotted: service levels)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _table(rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-status', broken.length ? 'broken-images' : 'ok');
  document.body.setAttribute('data-images', String(imgs.length));
});
"""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child{text-align:left}img{max-width:100%}
"""


def write_report(result: RunResult, paths: Mapping[str, Path], path: Path) -> Path:
    """A single HTML file with the KPI tables and the plots embedded."""
    s, summary = result.scenario, result.summary
    hours = len(next(iter(summary.throughput_by_hour.values())))
    hourly = [
        ["hour", *summary.throughput_by_hour, *(f"{q} mean queue" for q in summary.length_by_hour)]
    ]
    for h in range(hours):
        counts = [summary.throughput_by_hour[q][h] for q in summary.throughput_by_hour]
        if any(c.mean > 0 for c in counts):
            lengths = [summary.length_by_hour[q][h] for q in summary.length_by_hour]
            hourly.append(
                [f"{h:02d}:00", *[_fmt(c, 1.0, 0) for c in counts], *[_fmt(x) for x in lengths]]
            )
    sl_rows = [["hour", *summary.within_sl_by_hour]]
    for h in range(hours):
        cells = [_fmt(summary.within_sl_by_hour[q][h], 100.0) for q in summary.within_sl_by_hour]
        if any(c != "-" for c in cells):
            sl_rows.append([f"{h:02d}:00", *cells])
    referrals = [["reason", "share of gate users %"]] + [
        [k, _fmt(v, 100.0, 2)] for k, v in summary.referral_rate.items()
    ]
    figures = "".join(
        _image(paths[k], k.replace("_", " "))
        for k in ("queue_length", "waiting_times")
        if k in paths
    )
    body = f"""
<h1>Border hall simulation: {html.escape(s.name)}</h1>
<p>Seed {s.seed}, {summary.replications} replications, {s.egates.gates} e-gates,
{", ".join(f"{q.name}: peak {q.roster.peak} desks" for q in s.desks.queues)}.
Cells show the mean over replications ± the 95% confidence half-width.</p>
<h2>Key figures per queue</h2>{_table(summary_rows(summary, s))}
<p>Hall over capacity: {_fmt(summary.over_capacity_s, 1 / 60)} min.
95th percentile of time from arrival to exit: {_fmt(summary.time_in_hall_p95_s, 1 / 60)} min.</p>
<h2>e-Gate referrals</h2>{_table(referrals)}
<h2>Plots</h2>{figures}
<h2>Throughput (travellers served) and mean queue length per hour</h2>{_table(hourly)}
<h2>Share within the service level per hour (%)</h2>{_table(sl_rows)}
"""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(s.name)}: border hall simulation</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head>"
        f"<body>{body}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
