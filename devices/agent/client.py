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

    def receipt_job(self, job_id: int) -> dict[str, Any] | None:
        """The receipt of a receipt print job (``{"title", "lines", "qr", "cut"}``), or None when it is no longer
        queued: 410. Raises JobRefused on 403/404, and requests' errors when the server is unreachable or failing."""
        response = self._request("GET", f"/devices/api/print-jobs/{job_id}/receipt")
        if response.status_code == 410:
            return None
        if response.status_code in {403, 404}:
            raise self._refused(response)
        response.raise_for_status()
        receipt = response.json()
        if not isinstance(receipt, dict):
            raise JobRefused(f"print job {job_id}: the receipt is not a JSON object")
        return receipt

    def event(self, payload: dict[str, Any]) -> None:
        """Post one event. Each call signs afresh (new timestamp and nonce), so a retry is never a replay.
        Raises JobRefused on 400/403/404, and requests' errors when the server is unreachable or failing (5xx)."""
        response = self._request("POST", "/devices/api/events", json.dumps(payload).encode())
        if response.status_code in {400, 403, 404}:
            raise self._refused(response)
        response.raise_for_status()


class RegistrationRefused(Exception):
    """The server refused the one-time registration code (wrong, used, expired or voided); the message says why."""


def terminal_register(*, server_url: str, terminal: str, code: str, timeout: float = 30) -> str:
    """Exchange a one-time registration code for the terminal's secret (``POST /devices/api/register``, unsigned:
    the agent has no secret yet). Raises RegistrationRefused on 4xx, and requests' errors when the server is
    unreachable or failing."""
    response = requests.post(
        server_url.rstrip("/") + "/devices/api/register",
        data=json.dumps({"terminal": terminal, "code": code}).encode(),
        headers={"Content-Type": "application/json"},
        timeout=timeout,
    )
    if 400 <= response.status_code < 500:
        try:
            reason = str(response.json().get("error", ""))
        except (ValueError, AttributeError):
            reason = response.text[:200]
        raise RegistrationRefused(f"HTTP {response.status_code}: {reason or response.reason}")
    response.raise_for_status()
    try:
        answer = response.json()
        secret = str(answer["secret"])
        if answer.get("terminal") not in (None, terminal) or not secret:
            raise ValueError(answer.get("terminal"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RegistrationRefused(
            "the server's answer is not a registration (no secret for this terminal)"
        ) from None
    return secret
