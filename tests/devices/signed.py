"""Signed requests of an agent, through Django's test client (the signing is devices.signing's, unchanged)."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from devices import signing
from devices.models import Terminal


def signed_post(
    client: Client, terminal: Terminal, event: dict[str, Any], *, secret: str | None = None
) -> Any:
    """POST ``event`` to the events API as ``terminal``'s agent (with ``secret`` instead of its own, if given)."""
    body = json.dumps(event, ensure_ascii=False).encode()
    path = reverse("devices:agent_event")
    headers = signing.signed_headers(
        terminal=terminal.code,
        secret=terminal.secret if secret is None else secret,
        method="POST",
        path=path,
        body=body,
    )
    return client.post(path, body, content_type="application/json", headers=headers)


def signed_get(client: Client, terminal: Terminal, path: str) -> Any:
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="GET", path=path, body=b""
    )
    return client.get(path, headers=headers)
