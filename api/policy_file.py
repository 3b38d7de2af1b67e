"""The gate policy of the deployment, kept in one JSON file that every worker reads.

Operators change it through `PUT /v1/policy`; the file is replaced atomically and
each worker re-reads it when its modification time changes (one `stat` per request),
so all workers on a host apply the same policy within a request of the change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from egate.policy import GatePolicy


def policy_to_json(policy: GatePolicy) -> dict[str, Any]:
    data = dataclasses.asdict(policy)
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in data.items()}


def policy_from_json(data: dict[str, Any]) -> GatePolicy:
    """Raises `PolicyError` (a 422) for out-of-range values."""
    fields = {f.name for f in dataclasses.fields(GatePolicy)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"unknown policy fields {unknown}")
    values: dict[str, Any] = {
        k: frozenset(v) if isinstance(v, list) else v for k, v in data.items()
    }
    return GatePolicy(**values)


class PolicyFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._policy = GatePolicy()

    def current(self) -> GatePolicy:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._policy if self._mtime is None else GatePolicy()
        if mtime != self._mtime:
            with self._lock:
                self._policy = policy_from_json(json.loads(self.path.read_text()))
                self._mtime = mtime
        return self._policy

    def replace(self, policy: GatePolicy) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".policy-")
        with os.fdopen(fd, "w") as f:
            json.dump(policy_to_json(policy), f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        with self._lock:
            self._policy = policy
            self._mtime = self.path.stat().st_mtime_ns
