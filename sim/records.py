"""What a replication leaves behind: one row per traveller (times at every queue, the
route taken, the exit), queue-length logs, and optionally the full event log."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim import SimError
from sim.rosters import Roster
from sim.travellers import DOCUMENT_TYPES, FloatArray, IntArray, NationalityGroup, Travellers


class Exit(enum.IntEnum):
    """The one way each traveller leaves the hall (-1 in the records: never left)."""

    EGATE = 0
    DESK = 1
    SECONDARY = 2


class EventKind(enum.Enum):
    ARRIVE = "arrive"  # reached the hall doors
    OVERFLOW = "overflow"  # hall full: held outside
    ENTER = "enter"  # inside the hall
    JOIN = "join"  # joined a queue
    START = "start"  # service began
    END = "end"  # service ended
    REFER = "refer"  # an e-gate referred the traveller (where: the reason)
    EXIT = "exit"  # left landside


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the event log: at `time_s`, traveller `traveller` did `kind` at `where`."""

    time_s: float
    traveller: int
    kind: EventKind
    where: str

    def as_tuple(self) -> tuple[float, int, str, str]:
        return (round(self.time_s, 6), self.traveller, self.kind.value, self.where)


@dataclass(frozen=True)
class QueueLog:
    """Queue length (travellers waiting, not in service) after each change, from 0 s (length 0)."""

    times_s: FloatArray
    lengths: IntArray

    def mean_by_hour(self, hours: int) -> list[float]:
        """Time-average queue length in each hour from midnight (0 .. hours-1)."""
        edges = np.arange(hours + 1) * 3600.0
        # Length just before each edge: the last change at or before it.
        idx = np.searchsorted(self.times_s, edges, side="right") - 1
        cumulative = np.concatenate(([0.0], np.cumsum(np.diff(self.times_s) * self.lengths[:-1])))
        at_edge = (
            cumulative[np.maximum(idx, 0)]
            + (edges - self.times_s[np.maximum(idx, 0)]) * self.lengths[np.maximum(idx, 0)]
        )
        return [float(x) for x in np.diff(at_edge) / 3600.0]

    def area(self, end_s: float) -> float:
        """Integral of the queue length over [0, end_s] (traveller-seconds)."""
        if len(self.times_s) == 0:
            return 0.0
        spans = np.diff(np.append(self.times_s, max(end_s, self.times_s[-1])))
        return float(np.sum(spans * self.lengths))


STAGES = ("gate", "desk", "secondary")


@dataclass(frozen=True)
class Records:
    """One replication. Times are seconds from midnight; NaN where a stage was not visited.

    `desk_queue` indexes `desk_names` (-1: no desk); `gate_outcome` is a `GateOutcome`
    (-1: no gate); `exit` is an `Exit`. `logs` maps each queue name (`egates`, each desk
    queue, `secondary`, `overflow`) to its `QueueLog`; `capacity` each station to its roster.
    """

    replication: int
    travellers: Travellers
    entry_s: FloatArray
    gate_join_s: FloatArray
    gate_start_s: FloatArray
    gate_end_s: FloatArray
    gate_outcome: IntArray
    gate_attempts: IntArray
    desk_queue: IntArray
    desk_priority: np.ndarray
    desk_join_s: FloatArray
    desk_start_s: FloatArray
    desk_end_s: FloatArray
    secondary_join_s: FloatArray
    secondary_start_s: FloatArray
    secondary_end_s: FloatArray
    exit_s: FloatArray
    exit: IntArray
    desk_names: tuple[str, ...]
    logs: dict[str, QueueLog]
    capacity: dict[str, Roster]
    end_s: float
    events: tuple[Event, ...] | None = None

    def __len__(self) -> int:
        return len(self.exit)

    def columns(self) -> dict[str, np.ndarray]:
        """Flat per-traveller columns, for CSV or Parquet (labels instead of enum numbers)."""
        t = self.travellers
        groups = np.array([g.label for g in NationalityGroup])
        docs = np.array([d.value for d in DOCUMENT_TYPES])
        desk = np.array([*self.desk_names, ""])
        from sim.egates import GateOutcome

        outcomes = np.array([o.name.lower() for o in GateOutcome] + [""])
        exits = np.array([e.name.lower() for e in Exit] + [""])
        return {
            "replication": np.full(len(self), self.replication),
            "traveller": np.arange(len(self)),
            "flight": t.flight,
            "group": groups[t.group],
            "nationality": t.nationality,
            "age": t.age,
            "enrolled": t.enrolled,
            "document": docs[t.document],
            "watchlist": t.watchlist,
            "arrival_s": t.arrival_s,
            "entry_s": self.entry_s,
            "gate_join_s": self.gate_join_s,
            "gate_start_s": self.gate_start_s,
            "gate_end_s": self.gate_end_s,
            "gate_outcome": outcomes[self.gate_outcome],
            "gate_attempts": self.gate_attempts,
            "desk_queue": desk[self.desk_queue],
            "desk_priority": self.desk_priority,
            "desk_join_s": self.desk_join_s,
            "desk_start_s": self.desk_start_s,
            "desk_end_s": self.desk_end_s,
            "secondary_join_s": self.secondary_join_s,
            "secondary_start_s": self.secondary_start_s,
            "secondary_end_s": self.secondary_end_s,
            "exit_s": self.exit_s,
            "exit": exits[self.exit],
        }


def write_records(records: list[Records], path: Path) -> Path:
    """All replications' traveller rows to `path` (.parquet, or .csv for anything else)."""
    import pyarrow as pa

    table = pa.concat_tables([pa.table(r.columns()) for r in records])
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    return path


class RecordsInvariantError(SimError):
    """A replication's records break conservation or Little's law (a simulator bug)."""

    code = "records_invariant"

    def __init__(self, what: str, value: object) -> None:
        self.value = value
        super().__init__(f"records invariant broken: {what} (got {value!r})")


_WAITS = {
    "egates": ("gate_join_s", "gate_start_s"),
    "secondary": ("secondary_join_s", "secondary_start_s"),
}


def verify_records(r: Records) -> None:
    """Check what must hold on every run: each arrival leaves through exactly one exit, at
    or after it arrived, and each queue's logged length integrates to the sum of the
    waits recorded per traveller (Little's law, L = lambda W, over the whole run)."""
    if np.any(r.exit < 0):
        raise RecordsInvariantError("travellers never left", int(np.sum(r.exit < 0)))
    if np.any(r.exit_s < r.travellers.arrival_s) or np.any(np.isnan(r.exit_s)):
        raise RecordsInvariantError(
            "exit before arrival", int(np.argmin(r.exit_s - r.travellers.arrival_s))
        )
    last = {
        Exit.EGATE: r.gate_end_s,
        Exit.DESK: r.desk_end_s,
        Exit.SECONDARY: r.secondary_end_s,
    }
    for how, end in last.items():
        mask = r.exit == how
        if not np.array_equal(r.exit_s[mask], end[mask]):
            raise RecordsInvariantError(
                f"{how.name.lower()} exit not at the end of that service", how
            )
    waits = {q: getattr(r, s) - getattr(r, j) for q, (j, s) in _WAITS.items()}
    for k, name in enumerate(r.desk_names):
        waits[name] = np.where(r.desk_queue == k, r.desk_start_s - r.desk_join_s, np.nan)
    waits["overflow"] = r.entry_s - r.travellers.arrival_s
    for queue, wait in waits.items():
        total = float(np.nansum(wait))
        area = r.logs[queue].area(r.end_s)
        if abs(area - total) > 1e-6 * max(1.0, total):
            raise RecordsInvariantError(
                f"Little's law at {queue}: area {area} vs sum of waits", total
            )
