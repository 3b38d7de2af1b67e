"""Health, readiness, metrics, request limits and back-pressure."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from pathlib import Path

import httpx
import pytest
from api_helpers import ADMIN_TOKEN, TestClient, mrz, register_gate
from click.testing import CliRunner

from api.app import create_app
from api.cli import main
from api.settings import Settings


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "models_loaded": True,
        "database": True,
        "inference_pending": 0,
    }


def test_readiness_fails_when_the_database_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    settings = Settings(
        database_url=f"sqlite:///{db}", policy_path=tmp_path / "p.json", gallery_path=tmp_path / "g"
    )
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").status_code == 200
        c.app.state.resources.store.close()  # type: ignore[attr-defined]
        db.unlink()
        db.mkdir()  # sqlite cannot open a directory
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["database"] is False


def test_metrics_expose_latency_decisions_and_queue_depth(
    client: TestClient, gate: dict[str, str], photo: dict[str, list[bytes]]
) -> None:
    body = {"mrz": mrz(), "portrait": base64.b64encode(photo["obama"][0]).decode()}
    txn = client.post("/v1/transactions", json=body, headers=gate).json()
    client.post(f"/v1/transactions/{txn['id']}/abandon", headers=gate)
    text = client.get("/metrics").text
    assert (
        'egate_request_duration_seconds_bucket{le="0.25",method="POST",route="/v1/transactions"'
        in text
    )
    assert 'egate_decisions_total{decision="refer",reason="abandoned"}' in text
    assert "egate_inference_queue_depth 0.0" in text
    assert "egate_inference_batch_size_count" in text


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/transactions", "/v1/transactions/{transaction_id}/captures",
        "/v1/transactions/{transaction_id}",
        "/v1/transactions/{transaction_id}/close", "/v1/transactions/{transaction_id}/abandon",
        "/v1/gates", "/v1/gates/heartbeat", "/v1/verify", "/v1/identify", "/v1/enrolments",
        "/v1/watchlists/documents", "/v1/watchlists/persons", "/v1/watchlists/faces",
        "/v1/manifests", "/v1/app-checks", "/v1/audit/export", "/v1/audit/verify", "/v1/policy",
        "/healthz", "/readyz", "/metrics",
    ):  # fmt: skip
        assert path in paths, path
    capture = paths["/v1/transactions/{transaction_id}/captures"]["post"]["requestBody"]["content"]
    assert set(capture) == {"multipart/form-data", "application/json"}


def test_request_over_the_size_limit_is_413(
    client: TestClient, gate: dict[str, str], settings: Settings
) -> None:
    big = b"x" * (settings.max_request_bytes + 1)
    r = client.post("/v1/verify", content=big, headers={**gate, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    assert r.json()["error"]["detail"]["limit"] == settings.max_request_bytes


def _limited_settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        bootstrap_admin_token=ADMIN_TOKEN,
        policy_path=tmp_path / "p.json",
        gallery_path=tmp_path / "g",
        **changes,  # type: ignore[arg-type]
    )


def test_rate_per_gate_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = _limited_settings(tmp_path, gate_rate_per_s=0.01, gate_burst=2)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(create_app(settings)) as c:
        gate = register_gate(c, admin, "busy-gate")
        codes = [
            c.post("/v1/transactions", json={"mrz": "x"}, headers=gate).status_code
            for _ in range(3)
        ]
        r = c.post("/v1/transactions", json={"mrz": "x"}, headers=gate)
        other = register_gate(c, admin, "quiet-gate")
        quiet = c.post("/v1/transactions", json={"mrz": "x"}, headers=other).status_code
    assert codes == [422, 422, 429]
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    assert quiet == 422  # the limit is per gate


def test_full_inference_pool_answers_503_with_retry_after(
    tmp_path: Path, photo: dict[str, list[bytes]]
) -> None:
    settings = _limited_settings(tmp_path, inference_threads=1, inference_queue=2, retry_after_s=3)
    app = create_app(settings)
    image = base64.b64encode(photo["obama"][1]).decode()

    async def flood() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                body = {"image": image}
                return await asyncio.gather(
                    *(c.post("/v1/identify", json=body, headers=admin) for _ in range(8))
                )

    responses = asyncio.run(flood())
    counts = Counter(r.status_code for r in responses)
    assert counts[200] >= 2
    assert counts[503] >= 1
    assert set(counts) <= {200, 503}
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["Retry-After"] == "3"
    assert refused.json()["error"]["code"] == "overloaded"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_serve_refuses_default_secrets_outside_development(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EGATE_ENVIRONMENT", environment)
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "EGATE_TEMPLATE_KEY still has its development default" in result.output


def test_serve_refuses_more_workers_than_postgresql_accepts(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EGATE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("EGATE_DATABASE_POOL_SIZE", "20")
    # 1000 workers x 30 connections exceeds any sane max_connections; uvicorn never starts.
    result = CliRunner().invoke(main, ["serve", "--port", "1", "--workers", "1000"])
    assert result.exit_code == 1
    assert "1000 worker(s) x (20 pooled + 10 overflow) = 30000 PostgreSQL connections" in (
        result.output
    )
    assert "lower --workers or EGATE_DATABASE_POOL_SIZE" in result.output


def test_two_captures_racing_on_one_transaction_count_once_each_or_conflict(
    tmp_path: Path, photo: dict[str, list[bytes]]
) -> None:
    settings = _limited_settings(tmp_path, inference_threads=2)
    app = create_app(settings)
    portrait = base64.b64encode(photo["obama"][0]).decode()
    live = base64.b64encode(photo["biden"][0]).decode()  # no match: the transaction stays open

    async def race() -> tuple[list[httpx.Response], dict[str, object]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                r = await c.post("/v1/gates", json={"id": "racer"}, headers=admin)
                gate = {"X-Gate-Key": r.json()["key"]}
                txn = (
                    await c.post(
                        "/v1/transactions", json={"mrz": mrz(), "portrait": portrait}, headers=gate
                    )
                ).json()
                url = f"/v1/transactions/{txn['id']}/captures"
                answers = await asyncio.gather(
                    *(c.post(url, json={"image": live}, headers=gate) for _ in range(2))
                )
                final = (await c.get(f"/v1/transactions/{txn['id']}", headers=gate)).json()
                return list(answers), final

    answers, final = asyncio.run(race())
    codes = sorted(r.status_code for r in answers)
    ok = [r for r in answers if r.status_code == 200]
    assert codes in ([200, 200], [200, 409])
    assert final["attempts"] == len(ok)  # every acknowledged capture counted, none twice
    if codes == [200, 409]:
        assert (
            next(r for r in answers if r.status_code == 409).json()["error"]["code"]
            == "concurrent_update"
        )
