"""Discrete-event simulation of a border hall (SimPy): arrivals, e-gates, desks,
queues and KPIs. Uses `egate` for travellers, documents and policies; never
imports `api`.
"""


class SimError(Exception):
    """Root of every error raised by the simulator."""
