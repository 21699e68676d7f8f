"""The agent's signed HTTP client for the web API."""

from __future__ import annotations

import json
from typing import Any

import requests

from devices import signing

from .config import AgentConfig


class ServerClient:
    def __init__(self, config: AgentConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.http = session or requests.Session()

    def _request(self, method: str, path: str, body: bytes = b"") -> requests.Response:
        headers = signing.signed_headers(
            terminal=self.config.terminal, secret=self.config.secret, method=method, path=path, body=body
        )
        if body:
            headers["Content-Type"] = "application/json"
        return self.http.request(
            method, self.config.server_url + path, data=body, headers=headers, timeout=30
        )

    def print_job_pdf(self, job_id: int) -> bytes | None:
        """The job's PDF; None when there is nothing to print: the job is done already (410), or the server
        refuses it to this terminal (403/404), which retrying would not change."""
        response = self._request("GET", f"/devices/api/print-jobs/{job_id}/pdf")
        if response.status_code in {403, 404, 410}:
            return None
        response.raise_for_status()
        return response.content

    def event(self, payload: dict[str, Any]) -> None:
        response = self._request("POST", "/devices/api/events", json.dumps(payload).encode())
        response.raise_for_status()
