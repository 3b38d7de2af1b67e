"""Fixtures of the matcher tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from biometrics.matcher import gallery, search
from biometrics.matcher.codes import NARROW, CodesLayout, QueryRange
from biometrics.matcher.kernel import host_query_range


@pytest.fixture(scope="module", params=list(CodesLayout), ids=lambda layout: layout.value)
def each_codes_layout(request: pytest.FixtureRequest) -> Iterator[CodesLayout]:
    """Runs a module's tests once for each codes layout, as the one new galleries take (module
    scope: hypothesis refuses function-scoped fixtures, and one switch a layout suffices)."""
    layout: CodesLayout = request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gallery, "preferred_layout", lambda: layout)
        yield layout


@pytest.fixture(scope="module", params=["host", "narrow"])
def each_query_range(request: pytest.FixtureRequest) -> Iterator[QueryRange]:
    """Runs a module's tests with the query codes this host's int8 product takes, then with
    NARROW codes (those of a CPU without VNNI, see kernel.host_query_range), so the narrow
    bounds are checked on every host (module scope, as `each_codes_layout`)."""
    chosen = host_query_range() if request.param == "host" else NARROW
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "host_query_range", lambda: chosen)
        yield chosen
