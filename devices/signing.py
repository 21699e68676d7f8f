"""HMAC signatures of agent ↔ server requests. Plain Python: used by the agent (no Django) and the server.

A signature covers a timestamp, a random nonce, the method, the path and the body's hash. The timestamp bounds
how long a captured request stays valid (MAX_SKEW_SECONDS); the nonce, which the server remembers for that long,
makes each request usable once. The same module seals the secret a card-read command carries (``seal``).
"""

import base64
import hashlib
import hmac
import secrets
import time

HEADER_TERMINAL = "X-Madoguchi-Terminal"
HEADER_TIMESTAMP = "X-Madoguchi-Timestamp"
HEADER_NONCE = "X-Madoguchi-Nonce"
HEADER_SIGNATURE = "X-Madoguchi-Signature"
MAX_SKEW_SECONDS = 300


def signature(secret: str, *, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """HMAC-SHA256 over timestamp, nonce, method, path and the body's SHA-256, joined by newlines, as hex."""
    message = "\n".join([timestamp, nonce, method.upper(), path, hashlib.sha256(body).hexdigest()]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(*, terminal: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """The headers of one request: a fresh timestamp and nonce each call, so a retry is a new request."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        HEADER_TERMINAL: terminal,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(
            secret, timestamp=timestamp, nonce=nonce, method=method, path=path, body=body
        ),
    }


def timestamp_fresh(timestamp: str) -> bool:
    """True when ``timestamp`` (Unix seconds) is within MAX_SKEW_SECONDS of this machine's clock."""
    try:
        return abs(time.time() - int(timestamp)) <= MAX_SKEW_SECONDS
    except ValueError:
        return False


def verify(
    secret: str, *, timestamp: str, nonce: str, given: str, method: str, path: str, body: bytes
) -> bool:
    """True when ``given`` is the right signature and the timestamp is within MAX_SKEW_SECONDS of now.

    Whether the nonce was seen before is the server's business (devices.services.terminal_authenticate)."""
    if not secret or not nonce or not timestamp_fresh(timestamp):
        return False
    expected = signature(secret, timestamp=timestamp, nonce=nonce, method=method, path=path, body=body)
    return hmac.compare_digest(expected.encode(), given.encode())


# --- sealed secrets in commands --------------------------------------------------------------------------------
# A card read's PIN (照合番号B, card number) travels to the agent inside a broker message, and a broker keeps
# messages: in memory, in Redis's append-only file, in the demo's broker folder. So the secret is sealed with
# AES-256-GCM under a key derived from the terminal's secret, bound to the terminal, the request and the card kind:
# whoever reads the broker (or its files) learns nothing, and a sealed PIN cannot be moved to another request.

SEAL_VERSION = "s1"


class SealBroken(ValueError):
    """A sealed value that does not open with this terminal's secret for this context (forged, moved, damaged)."""


def _seal_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"madoguchi sealed command key v1", hashlib.sha256).digest()


def seal(secret: str, plaintext: str, *, context: str) -> str:
    """``plaintext`` encrypted and authenticated for the holder of ``secret``, bound to ``context``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_seal_key(secret)).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(secret: str, token: str, *, context: str) -> str:
    """The plaintext of ``seal``; SealBroken when the token is malformed or was not sealed for this context."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version, _, body = token.partition(".")
    try:
        if version != SEAL_VERSION:
            raise ValueError(f"unknown seal version {version[:8]!r}")
        raw = base64.urlsafe_b64decode(body.encode())
        if len(raw) < 12 + 16:
            raise ValueError("too short")
        return AESGCM(_seal_key(secret)).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (ValueError, InvalidTag, UnicodeDecodeError) as exc:
        raise SealBroken(f"sealed value does not open: {type(exc).__name__}") from None


def card_command_context(*, terminal: str, request_id: str, kind: str) -> str:
    """What a card read's sealed secret is bound to."""
    return f"card-read\n{terminal}\n{request_id}\n{kind}"


def card_command_seal(secret: str, pin: str, *, terminal: str, request_id: str, kind: str, until: int) -> str:
    """A card read's secret sealed for ``terminal``'s agent, with the time (Unix seconds, the server's clock) after
    which it must not be used: inside the seal, where a broker cannot change it (Celery's own ``expires`` header
    can be rewritten by whoever can write to the broker)."""
    context = card_command_context(terminal=terminal, request_id=request_id, kind=kind)
    return seal(secret, f"{until}\n{pin}", context=context)


def card_command_open(
    secret: str, token: str, *, terminal: str, request_id: str, kind: str
) -> tuple[int, str]:
    """``(until, pin)`` of card_command_seal; SealBroken when it does not open for this terminal and request."""
    context = card_command_context(terminal=terminal, request_id=request_id, kind=kind)
    until, separator, pin = unseal(secret, token, context=context).partition("\n")
    if not separator or not until.isdigit():
        raise SealBroken("sealed value does not open: no time limit in it")
    return int(until), pin
