"""Service and travel time distributions, sampled in vectorised batches.

Every distribution is a small frozen dataclass with `sample(rng, n) -> (n,)
float64` in seconds, never negative. Scenario files write them as mappings:
`{dist: exponential, mean: 90}`, `{dist: normal, mean: 90, sd: 15}`,
`{dist: lognormal, mean: 300, sd: 120}`, `{dist: gamma, mean: 45, sd: 5}`,
`{dist: uniform, low: 3, high: 15}`, `{dist: fixed, value: 3}`, or a bare
number for a fixed time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sim import SimError

FloatArray = npt.NDArray[np.float64]


class DistributionError(SimError):
    """A distribution specification that cannot be sampled (carries the offending value)."""

    code = "invalid_distribution"

    def __init__(self, spec: object, reason: str) -> None:
        self.value = spec
        self.reason = reason
        super().__init__(f"invalid distribution {spec!r}: {reason}")


class Distribution(Protocol):
    """A non-negative random duration in seconds."""

    @property
    def mean(self) -> float: ...

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        # Still consumes one uniform per item so that switching a step between a
        # fixed and a random time leaves the stream aligned for later steps.
        rng.random(n)
        return np.full(n, self.value)


@dataclass(frozen=True, slots=True)
class Exponential:
    mean: float

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean, n)


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True, slots=True)
class Normal:
    """Normal, clipped at zero (a duration cannot be negative)."""

    mean: float
    sd: float

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.maximum(rng.normal(self.mean, self.sd, n), 0.0)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Lognormal with the given mean and standard deviation of the duration itself."""

    mean: float
    sd: float

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        mu = math.log(self.mean) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


@dataclass(frozen=True, slots=True)
class Gamma:
    """Gamma with the given mean and standard deviation."""

    mean: float
    sd: float

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        shape = (self.mean / self.sd) ** 2
        return rng.gamma(shape, self.mean / shape, n)


def _positive(spec: object, name: str, value: object, *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DistributionError(spec, f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero_ok):
        raise DistributionError(spec, f"{name} must be {'non-negative' if zero_ok else 'positive'}")
    return number


_FIELDS = {
    "fixed": ("value",),
    "exponential": ("mean",),
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("mean", "sd"),
    "gamma": ("mean", "sd"),
}


def parse_distribution(spec: object) -> Distribution:
    """A distribution from its scenario form (module docstring); raises DistributionError."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Fixed(_positive(spec, "value", spec, zero_ok=True))
    if not isinstance(spec, Mapping):
        raise DistributionError(spec, "expected a number or a mapping with a 'dist' key")
    kind = spec.get("dist")
    if kind not in _FIELDS:
        raise DistributionError(spec, f"unknown dist {kind!r}; expected one of {sorted(_FIELDS)}")
    expected = set(_FIELDS[kind]) | {"dist"}
    unknown = sorted(set(spec) - expected)
    if unknown:
        raise DistributionError(spec, f"unknown key {unknown[0]!r} for {kind}")
    missing = [k for k in _FIELDS[kind] if k not in spec]
    if missing:
        raise DistributionError(spec, f"missing key {missing[0]!r} for {kind}")
    zero_ok = kind in ("fixed", "uniform", "normal")
    values = [_positive(spec, k, spec[k], zero_ok=zero_ok or k == "sd") for k in _FIELDS[kind]]
    if kind == "fixed":
        return Fixed(values[0])
    if kind == "exponential":
        return Exponential(values[0])
    if kind == "uniform":
        if values[1] < values[0]:
            raise DistributionError(spec, "high must not be below low")
        return Uniform(values[0], values[1])
    if kind == "normal":
        return Normal(values[0], values[1])
    if values[1] == 0:
        return Fixed(values[0])
    return LogNormal(values[0], values[1]) if kind == "lognormal" else Gamma(values[0], values[1])
