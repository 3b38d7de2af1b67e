"""Domain errors become HTTP statuses in one place: faults of the server are 503, the rest
are the client's input (422 unless mapped)."""

from __future__ import annotations

import json

from api.errors import domain_error_response
from biometrics.matcher import InexactProduct, UnknownId


def test_a_host_whose_int8_product_is_inexact_is_a_server_fault() -> None:
    response = domain_error_response(InexactProduct("1.31.1"))
    assert response.status_code == 503
    body = json.loads(bytes(response.body))
    assert body["error"]["code"] == "inexact_int8_product"
    assert "onnxruntime 1.31.1" in body["error"]["message"]


def test_an_unknown_id_is_not_found() -> None:
    response = domain_error_response(UnknownId("w1"))
    assert response.status_code == 404
    assert json.loads(bytes(response.body))["error"]["code"] == "unknown_id"
