"""Chip fixtures shared by the chip and CSCA tests: one test CSCA, its Document Signer,
and a chip for the TD3 specimen with a gradient portrait (built once per module)."""

from __future__ import annotations

import pytest
from chipbuilder import TD3, Scheme, Signer, build_chip, gradient_image, make_csca, make_ds

from egate.chip import ChipData


@pytest.fixture(scope="module")
def csca() -> Signer:
    return make_csca(Scheme.RSA_PKCS1V15)


@pytest.fixture(scope="module")
def ds(csca: Signer) -> Signer:
    return make_ds(csca)


@pytest.fixture(scope="module")
def chip(ds: Signer) -> ChipData:
    return build_chip(TD3, gradient_image(), 96, 128, ds)
