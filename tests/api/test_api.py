"""The /v1 REST API on a SQLite store: auth, body limits, validation, jobs, trials, Pareto, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import MAX_BODY_BYTES, create_app
from api.store import TrialRow, TrialStore

from .conftest import API_KEY
from .helpers import assert_front_matches, brute_force_front, random_trials

GOOD = {"budgets": ["600M-MACs"], "time_limit": 1}


@pytest.fixture
def app(sqlite_store: TrialStore):
    return create_app(store=sqlite_store, api_key=API_KEY)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-API-Key": API_KEY}) as client:
        yield client


def _submit(client: TestClient, body: dict | None = None, **headers: str) -> dict:
    response = client.post("/v1/jobs", json=body or GOOD, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _messages(response) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(f"{d['loc']}: {d['msg']}" for d in detail)


# -- auth -----------------------------------------------------------------------------------------
def _protected_calls(app, job_id: str) -> list[tuple[str, str]]:
    """Every (method, path) of the /v1 API but health, from the app's OpenAPI document."""
    return [(method.upper(), path.replace("{job_id}", job_id))
            for path, operations in app.openapi()["paths"].items() if path.startswith("/v1/") and path != "/v1/health"
            for method in operations]


@pytest.mark.parametrize("key", [None, "wrong-key", API_KEY + "x", ""])
def test_every_route_but_health_needs_the_key(app, client: TestClient, key: str | None) -> None:
    job_id = _submit(client)["id"]
    calls = _protected_calls(app, job_id)
    assert len(calls) >= 9  # jobs x2, job, cancel, trials, pareto, spaces, predictors, ready
    headers = {"X-API-Key": key} if key is not None else {}
    with TestClient(app) as anonymous:
        for method, path in calls:
            response = anonymous.request(method, path, headers=headers, json=GOOD if method == "POST" else None)
            assert response.status_code == 401, (method, path, response.status_code)
            assert "API key" in response.json()["detail"]
        assert anonymous.get("/v1/health").status_code == 200


def test_right_key_passes_every_route(app, client: TestClient) -> None:
    job_id = _submit(client)["id"]
    for method, path in _protected_calls(app, job_id):
        response = client.request(method, path, json=GOOD if method == "POST" else None)
        assert response.status_code in (200, 201), (method, path, response.text)


def test_no_key_configured_means_no_auth(sqlite_store: TrialStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_API_KEY", raising=False)
    with TestClient(create_app(store=sqlite_store)) as anonymous:
        assert anonymous.get("/v1/jobs").status_code == 200


# -- body limits ----------------------------------------------------------------------------------
def _oversized() -> bytes:
    return b'{"budgets": ["600M-MACs"], "strategy": "' + b"x" * MAX_BODY_BYTES + b'"}'


def test_oversized_body_with_content_length_is_413(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=_oversized(), headers={"Content-Type": "application/json"})
    assert response.request.headers["content-length"] == str(len(_oversized()))
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["detail"]


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    body = _oversized()
    chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
    response = client.post("/v1/jobs", content=chunks, headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413, response.text
    assert client.get("/v1/jobs").json()["total"] == 0


def test_small_chunked_body_is_accepted(client: TestClient) -> None:
    body = b'{"budgets": ["600M-MACs"], "time_limit": 1}'
    response = client.post("/v1/jobs", content=(body[i:i + 8] for i in range(0, len(body), 8)),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "expected"), [
    ({"budgets": ["600X-MACs"]}, "cannot read budget '600X-MACs'"),
    ({"budgets": ["600M-MACs", "lots"]}, "cannot read budget 'lots'"),
    ({"budgets": []}, "at least 1 item"),
    ({"budgets": ["600M-MACs"] * 9}, "at most 8 items"),
    ({"budgets": ["1" * 70 + "M-MACs"]}, "at most 64 characters"),
    ({}, "budgets"),
    ({"budgets": ["1M-MACs"]}, "below the smallest subnet of ofa-mbv3-w1.2"),
    ({"budgets": ["1k-params"]}, "below the smallest subnet"),
    ({"budgets": ["600M-MACs"], "space": "nope"}, "unknown space 'nope'; choose from"),
    ({"budgets": ["600M-MACs"], "strategy": "nope"}, "unknown strategy 'nope'; choose from"),
    ({"budgets": ["600M-MACs"], "predictor": "nope"}, "unknown predictor 'nope'; choose from"),
    ({"budgets": ["600M-MACs"], "time_limit": 0}, "time_limit"),
    ({"budgets": ["600M-MACs"], "time_limit": 1e9}, "less than or equal to 3600"),
    ({"budgets": ["600M-MACs"], "time_limit": -5}, "greater than 0"),
    ({"budgets": ["600M-MACs"], "generations": 0}, "generations"),
    ({"budgets": ["600M-MACs"], "generations": 10**9}, "less than or equal to 100000"),
    ({"budgets": ["600M-MACs"], "batch_size": 1}, "greater than or equal to 16"),
    ({"budgets": ["600M-MACs"], "batch_size": 10**7}, "less than or equal to 65536"),
    ({"budgets": ["600M-MACs"], "seed": -1}, "seed"),
    ({"budgets": ["600M-MACs"], "population": 10}, "Extra inputs are not permitted"),
])
def test_bad_job_requests_are_422_with_a_clear_message(client: TestClient, body: dict, expected: str) -> None:
    message = _messages(client.post("/v1/jobs", json=body))
    assert expected in message
    assert client.get("/v1/jobs").json()["total"] == 0


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert "JSON decode error" in _messages(response)


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/jobs?limit=0", "greater than or equal to 1"),
    ("/v1/jobs?limit=501", "less than or equal to 500"),
    ("/v1/jobs?offset=-1", "greater than or equal to 0"),
    ("/v1/jobs?status=bogus", "queued"),
    ("/v1/jobs/{id}/trials?limit=1001", "less than or equal to 1000"),
    ("/v1/jobs/{id}/trials?limit=abc", "valid integer"),
    ("/v1/jobs/{id}/trials?sort=name", "'id', 'generation', 'accuracy', 'macs' or 'params'"),
    ("/v1/jobs/{id}/trials?order=up", "'asc' or 'desc'"),
    ("/v1/jobs/{id}/pareto?metrics=accuracy", "two or three distinct metric names"),
    ("/v1/jobs/{id}/pareto?metrics=accuracy,macs,params,latency", "two or three distinct metric names"),
    ("/v1/jobs/{id}/pareto?metrics=accuracy,accuracy", "two or three distinct metric names"),
    ("/v1/jobs/{id}/pareto?metrics=accuracy,ma$cs", "letters, digits"),
    ("/v1/jobs/{id}/pareto?constraint=macs<600", "expected METRIC<=NUMBER or METRIC>=NUMBER"),
    ("/v1/jobs/{id}/pareto?constraint=macs<=abc", "expected METRIC<=NUMBER"),
    ("/v1/jobs/{id}/pareto?constraint=macs<=1e5e5", "bad number"),
    ("/v1/jobs/{id}/pareto?constraint=macs<=1e999", "finite"),
    ("/v1/jobs/{id}/pareto?constraint=accuracy<=0.5", "use accuracy>=X"),
    ("/v1/jobs/{id}/pareto?constraint=macs>=1", "use accuracy>=X and <cost><=X"),
])
def test_bad_queries_are_422_with_a_clear_message(client: TestClient, path: str, expected: str) -> None:
    job_id = _submit(client)["id"]
    assert expected in _messages(client.get(path.replace("{id}", job_id)))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/jobs/{id}"), ("POST", "/v1/jobs/{id}/cancel"), ("GET", "/v1/jobs/{id}/trials"),
    ("GET", "/v1/jobs/{id}/pareto"),
])
@pytest.mark.parametrize("job_id", ["0" * 32, "no-such-job", "x" * 200])
def test_unknown_job_is_404(client: TestClient, method: str, path: str, job_id: str) -> None:
    response = client.request(method, path.replace("{id}", job_id))
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


# -- jobs -----------------------------------------------------------------------------------------
def test_submit_then_get(client: TestClient) -> None:
    job = _submit(client, {"budgets": ["500M-MACs", "7M-params"], "seed": 3, "time_limit": 2})
    assert job["status"] == "queued" and job["request"]["seed"] == 3
    assert job["progress"] == {"evaluated": 0, "generations": 0, "search_seconds": 0.0, "best_accuracy": None,
                               "fraction": 0.0}
    assert client.get(f"/v1/jobs/{job['id']}").json()["request"] == job["request"]


def test_idempotency_key_returns_the_same_job(client: TestClient) -> None:
    first = client.post("/v1/jobs", json=GOOD, headers={"Idempotency-Key": "abc-123"})
    second = client.post("/v1/jobs", json={**GOOD, "seed": 9}, headers={"Idempotency-Key": "abc-123"})
    other = client.post("/v1/jobs", json=GOOD, headers={"Idempotency-Key": "abc-124"})
    assert (first.status_code, second.status_code, other.status_code) == (201, 200, 201)
    assert second.json()["id"] == first.json()["id"] != other.json()["id"]
    assert second.json()["request"]["seed"] == 0
    assert client.get("/v1/jobs").json()["total"] == 2


def test_overlong_idempotency_key_is_422(client: TestClient) -> None:
    response = client.post("/v1/jobs", json=GOOD, headers={"Idempotency-Key": "k" * 129})
    assert "Idempotency-Key" in _messages(response) or "idempotency" in _messages(response).lower()


def test_jobs_are_listed_newest_first(client: TestClient) -> None:
    ids = [_submit(client, {**GOOD, "seed": i})["id"] for i in range(5)]
    page = client.get("/v1/jobs").json()
    assert [j["id"] for j in page["items"]] == ids[::-1] and page["total"] == 5
    second = client.get("/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in second["items"]] == ids[::-1][2:4]


def test_cancel_a_queued_job(client: TestClient) -> None:
    job_id = _submit(client)["id"]
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"]
    assert client.get("/v1/jobs", params={"status": "cancelled"}).json()["total"] == 1
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"


# -- trials and Pareto ----------------------------------------------------------------------------
def test_trials_pages_and_pareto_through_the_api(client: TestClient, sqlite_store: TrialStore) -> None:
    job_id = _submit(client, {"budgets": ["600M-MACs"]})["id"]
    sqlite_store.add_trials(job_id, random_trials(120, seed=4))
    page = client.get(f"/v1/jobs/{job_id}/trials", params={"limit": 50, "offset": 100}).json()
    assert page["total"] == 120 and len(page["items"]) == 20
    best = client.get(f"/v1/jobs/{job_id}/trials", params={"sort": "accuracy", "order": "desc", "limit": 1}).json()
    assert best["items"][0]["metrics"]["accuracy"] == max(t.metrics["accuracy"] for t in random_trials(120, seed=4))

    stored = [(t["id"], t["metrics"]) for t in client.get(f"/v1/jobs/{job_id}/trials?limit=1000").json()["items"]]
    default = client.get(f"/v1/jobs/{job_id}/pareto").json()
    assert default["metrics"] == ["accuracy", "macs"] and default["constraints"] == ["macs<=6e+08"]
    expected = brute_force_front(stored, ["accuracy", "macs"], _constraints(["macs<=6e8"]))
    assert_front_matches([(t["id"], t["metrics"]) for t in default["items"]], expected, ["accuracy", "macs"])

    query = {"metrics": "accuracy,macs,params", "constraint": ["params<=8e6", "accuracy>=0.65"]}
    custom = client.get(f"/v1/jobs/{job_id}/pareto", params=query).json()
    expected = brute_force_front(stored, ["accuracy", "macs", "params"], _constraints(query["constraint"]))
    assert custom["constraints"] == ["params<=8e+06", "accuracy>=0.65"]
    assert_front_matches([(t["id"], t["metrics"]) for t in custom["items"]], expected,
                         ["accuracy", "macs", "params"])


def _constraints(texts: list[str]) -> list:
    from api.routes import _parse_constraint

    return [_parse_constraint(text) for text in texts]


def test_pareto_response_follows_new_trials(client: TestClient, sqlite_store: TrialStore) -> None:
    job_id = _submit(client)["id"]
    sqlite_store.add_trials(job_id, random_trials(60, seed=5))
    before = client.get(f"/v1/jobs/{job_id}/pareto").json()["items"]
    assert client.get(f"/v1/jobs/{job_id}/pareto").json()["items"] == before  # served again, unchanged
    sqlite_store.add_trials(job_id, [TrialRow("dominant", {}, {"accuracy": 0.95, "macs": 1e6, "params": 1e6})])
    after = client.get(f"/v1/jobs/{job_id}/pareto").json()["items"]
    assert len(before) > 1 and [t["metrics"]["macs"] for t in after] == [1e6]


def test_pareto_of_a_job_without_trials_is_empty(client: TestClient) -> None:
    job_id = _submit(client)["id"]
    assert client.get(f"/v1/jobs/{job_id}/pareto").json()["items"] == []


def test_pareto_with_unknown_metric_is_empty_not_an_error(client: TestClient, sqlite_store: TrialStore) -> None:
    job_id = _submit(client)["id"]
    sqlite_store.add_trials(job_id, [TrialRow("a", {}, {"accuracy": 0.7, "macs": 3e8, "params": 5e6})])
    response = client.get(f"/v1/jobs/{job_id}/pareto", params={"metrics": "accuracy,energy"})
    assert response.status_code == 200 and response.json()["items"] == []


# -- catalogue, health, OpenAPI -------------------------------------------------------------------
def test_spaces_and_predictors(client: TestClient) -> None:
    spaces = {s["name"]: s for s in client.get("/v1/spaces").json()}
    assert {"ofa-mbv3-w1.0", "ofa-mbv3-w1.2"} <= set(spaces)
    w12 = spaces["ofa-mbv3-w1.2"]
    assert 0 < w12["smallest"]["macs"] < w12["largest"]["macs"]
    predictors = {p["name"]: p for p in client.get("/v1/predictors").json()}
    assert "ofa-mbv3-w1.2" in predictors["ofa-mlp"]["spaces"]


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/v1/ready").json() == {"status": "ready", "database": "sqlite"}


def test_openapi_has_examples_for_the_job_request(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    request = schema["components"]["schemas"]["JobRequest"]
    assert request["examples"] and request["examples"][0]["budgets"] == ["600M-MACs"]
    assert request["properties"]["budgets"]["examples"]
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/JobRequest")
    assert set(schema["paths"]) >= {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel",
                                    "/v1/jobs/{job_id}/trials", "/v1/jobs/{job_id}/pareto", "/v1/health"}


def test_openapi_examples_are_accepted(client: TestClient) -> None:
    request = client.get("/openapi.json").json()["components"]["schemas"]["JobRequest"]
    for example in request["examples"]:
        assert client.post("/v1/jobs", json=example).status_code == 201
