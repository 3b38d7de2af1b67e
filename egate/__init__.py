"""Border-control domain: documents, advance passenger information, watchlists,
the gate transaction, enrolment, persistence and the audit trail.

Uses `biometrics` through its public interface only; never imports `api` or `sim`.
"""


class EgateError(Exception):
    """Root of every error raised by the border-control domain."""
