"""The agent's signed HTTP client for the web API."""

from __future__ import annotations

import json
from typing import Any

import requests

from devices import signing

from .config import AgentConfig


class JobRefused(Exception):
    """The server refuses this terminal the job (wrong secret, clock off by > 5 min, another terminal's job).
    Retrying cannot help; the message is the server's reason."""


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

    @staticmethod
    def _refused(response: requests.Response) -> JobRefused:
        try:
            reason = response.json().get("error", "")
        except ValueError:
            reason = response.text[:200]
        return JobRefused(f"HTTP {response.status_code}: {reason}")

    def print_job_pdf(self, job_id: int) -> bytes | None:
        """The job's PDF, or None when it is no longer queued (printed already, or failed): 410.
        Raises JobRefused on 403/404, and requests' errors when the server is unreachable or failing."""
        response = self._request("GET", f"/devices/api/print-jobs/{job_id}/pdf")
        if response.status_code == 410:
            return None
        if response.status_code in {403, 404}:
            raise self._refused(response)
        response.raise_for_status()
        return response.content

    def event(self, payload: dict[str, Any]) -> None:
        response = self._request("POST", "/devices/api/events", json.dumps(payload).encode())
        if response.status_code in {400, 403, 404}:
            raise self._refused(response)
        response.raise_for_status()
