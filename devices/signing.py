"""HMAC signatures of agent ↔ server requests. Plain Python: used by the agent (no Django) and the server."""

import hashlib
import hmac
import time

HEADER_TERMINAL = "X-Madoguchi-Terminal"
HEADER_TIMESTAMP = "X-Madoguchi-Timestamp"
HEADER_SIGNATURE = "X-Madoguchi-Signature"
MAX_SKEW_SECONDS = 300


def signature(secret: str, *, timestamp: str, method: str, path: str, body: bytes) -> str:
    """HMAC-SHA256 over timestamp, method, path and the body's SHA-256, as hex."""
    message = "\n".join([timestamp, method.upper(), path, hashlib.sha256(body).hexdigest()]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(*, terminal: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        HEADER_TERMINAL: terminal,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: signature(secret, timestamp=timestamp, method=method, path=path, body=body),
    }


def verify(secret: str, *, timestamp: str, given: str, method: str, path: str, body: bytes) -> bool:
    """True when ``given`` is the right signature and the timestamp is within MAX_SKEW_SECONDS of now."""
    if not secret:
        return False
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    expected = signature(secret, timestamp=timestamp, method=method, path=path, body=body)
    return skew <= MAX_SKEW_SECONDS and hmac.compare_digest(expected, given)
