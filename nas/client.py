"""A small client of the REST API, used by ``nas search --server``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from nas.errors import NasError

TERMINAL = {"succeeded", "failed", "cancelled"}


class ServerError(NasError):
    """The server refused a request or could not be reached; the message says which and why."""


class Client:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        key = api_key if api_key is not None else os.environ.get("NAS_API_KEY")
        headers = {"X-API-Key": key} if key else {}
        transport = httpx.HTTPTransport(retries=3)  # connection failures only; requests are not repeated
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise ServerError(f"{method} {path} answered {response.status_code}: {_detail(response)}")
        return response.json()

    def submit(self, request: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/v1/jobs", json=request, headers=headers)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def pareto(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}/pareto")

    def best_trial(self, job_id: str) -> dict[str, Any] | None:
        page = self._call("GET", f"/v1/jobs/{job_id}/trials", params={"sort": "accuracy", "order": "desc", "limit": 1})
        return page["items"][0] if page["items"] else None

    def wait(self, job_id: str, on_update: Callable[[dict[str, Any]], None], poll: float = 0.25) -> dict[str, Any]:
        while True:
            job = self.job(job_id)
            on_update(job)
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:200]
    if isinstance(detail, list):  # pydantic validation errors
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    return str(detail)
