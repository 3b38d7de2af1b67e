"""Fixtures of the matcher tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from biometrics.matcher import search
from biometrics.matcher.codes import LAYOUT_VARIABLE, NARROW, CodesLayout, QueryRange
from biometrics.matcher.kernel import host_query_range


@pytest.fixture(scope="module", params=list(CodesLayout), ids=lambda layout: layout.value)
def each_codes_layout(request: pytest.FixtureRequest) -> Iterator[CodesLayout]:
    """Runs a module's tests once for each codes layout, the one new galleries take (module
    scope: hypothesis refuses function-scoped fixtures, and one switch a layout suffices)."""
    layout: CodesLayout = request.param
    previous = os.environ.get(LAYOUT_VARIABLE)
    os.environ[LAYOUT_VARIABLE] = layout.value
    yield layout
    if previous is None:
        del os.environ[LAYOUT_VARIABLE]
    else:
        os.environ[LAYOUT_VARIABLE] = previous


@pytest.fixture(scope="module", params=["host", "narrow"])
def each_query_range(request: pytest.FixtureRequest) -> Iterator[QueryRange]:
    """Runs a module's tests with the query codes this host's int8 product takes, then with
    NARROW codes (those of a CPU without VNNI, see kernel.host_query_range), so the narrow
    bounds are checked on every host (module scope, as `each_codes_layout`)."""
    chosen = host_query_range() if request.param == "host" else NARROW
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "host_query_range", lambda: chosen)
        yield chosen
