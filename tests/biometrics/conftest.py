"""Fixtures of the matcher tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from biometrics.matcher.codes import LAYOUT_VARIABLE, CodesLayout


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
