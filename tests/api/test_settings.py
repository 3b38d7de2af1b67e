import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.settings import DEFAULT_SECRET, Environment, Settings

STRONG_KEY = base64.b64encode(bytes(range(32))).decode()


def test_reads_the_egate_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGATE_MAX_CAPTURES_PER_TRANSACTION", "7")
    monkeypatch.setenv("EGATE_DATABASE_URL", "sqlite:///x.db")
    s = Settings()
    assert s.max_captures_per_transaction == 7
    assert s.database_url == "sqlite:///x.db"
    assert s.environment is Environment.DEVELOPMENT


def test_development_accepts_the_default_secrets() -> None:
    assert Settings().bootstrap_admin_token.get_secret_value() == DEFAULT_SECRET


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_refuses_default_template_key_outside_development(environment: str) -> None:
    with pytest.raises(
        ValidationError, match="EGATE_TEMPLATE_KEY still has its development default"
    ):
        Settings(environment=environment, bootstrap_admin_token="t" * 40, secret_pepper="p" * 40)


def test_refuses_default_admin_token_outside_development() -> None:
    with pytest.raises(ValidationError, match="EGATE_BOOTSTRAP_ADMIN_TOKEN still has its"):
        Settings(environment="production", template_key=STRONG_KEY)


def test_refuses_default_pepper_outside_development() -> None:
    with pytest.raises(ValidationError, match="EGATE_SECRET_PEPPER still has its"):
        Settings(environment="staging", template_key=STRONG_KEY, bootstrap_admin_token="t" * 40)


def test_production_with_real_secrets_starts() -> None:
    s = Settings(
        environment="production",
        template_key=STRONG_KEY,
        bootstrap_admin_token="x" * 40,
        secret_pepper="p" * 40,
    )
    assert s.template_key_bytes() == bytes(range(32))


@given(st.binary(min_size=0, max_size=64))
def test_template_key_must_be_32_bytes(raw: bytes) -> None:
    encoded = base64.b64encode(raw).decode()
    if len(raw) == 32:
        assert Settings(template_key=encoded).template_key_bytes() == raw
    else:
        with pytest.raises(ValidationError, match=f"must decode to 32 bytes, got {len(raw)}"):
            Settings(template_key=encoded)


def test_template_key_must_be_base64() -> None:
    with pytest.raises(ValidationError, match="must be base64"):
        Settings(template_key="not base64 at all!")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="max_request_bytes"):
        Settings(max_request_bytes=0)
