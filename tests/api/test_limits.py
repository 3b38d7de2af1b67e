import pytest

from api.errors import ApiError
from api.limits import RateLimiter, TtlCache, check_capture_count


def test_token_bucket_grants_the_burst_then_refuses_until_refilled() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.take("g1", now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("g1", now=10.0) == pytest.approx(0.5)
    assert limiter.take("g1", now=10.5) == 0.0  # one token came back in 0.5 s
    assert limiter.take("g2", now=10.5) == 0.0  # another gate has its own bucket


def test_bucket_never_holds_more_than_the_burst() -> None:
    limiter = RateLimiter(rate_per_s=100.0, burst=2)
    limiter.take("g", now=0.0)
    granted = [limiter.take("g", now=1000.0) for _ in range(3)]
    assert granted[:2] == [0.0, 0.0]
    assert granted[2] > 0


def test_check_raises_429_with_retry_after() -> None:
    limiter = RateLimiter(rate_per_s=0.5, burst=1)
    limiter.check("gate-7")
    message = r"rate limit of 0\.5 requests/s exceeded for gate-7"
    with pytest.raises(ApiError, match=message) as info:
        limiter.check("gate-7")
    assert info.value.status == 429
    assert info.value.code == "rate_limited"
    assert info.value.headers == {"Retry-After": "2"}


def test_capture_count_limit() -> None:
    check_capture_count(4, 5)
    with pytest.raises(ApiError, match="already has 5 captures; the limit is 5") as info:
        check_capture_count(5, 5)
    assert info.value.code == "too_many_captures"


def test_ttl_cache_expires_entries() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_s=10.0)
    cache.put("k", 1, now=100.0)
    assert cache.get("k", now=109.9) == 1
    assert cache.get("k", now=110.0) is None
    assert cache.get("other", now=100.0) is None
    off: TtlCache[str, int] = TtlCache(ttl_s=0)
    off.put("k", 1, now=0.0)
    assert off.get("k", now=0.0) is None
