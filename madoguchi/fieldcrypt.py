"""Encryption of the few values the database may hold only encrypted — the individual number (個人番号, R-I4).

AES-256-GCM with a key from the environment (``MADOGUCHI_DATA_KEY``: 32 random bytes, base64). Each value is
sealed with a fresh nonce and bound to its purpose (associated data), so a value sealed for one column cannot be
passed off as another's. A token is ``v1.<base64(nonce + ciphertext)>``. Without ``MADOGUCHI_DATA_KEY`` (the
embedded default) the key is derived from ``SECRET_KEY``; ``manage.py check --deploy`` warns about that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "v1."


class SealBroken(ValueError):
    """A token that is not ours, was altered, or was sealed under another key or purpose."""


@lru_cache(maxsize=4)
def _key(
    configured: str, secret_key: str, name: str = "MADOGUCHI_DATA_KEY", info: bytes = b"madoguchi data key v1"
) -> bytes:
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except binascii.Error as exc:
            raise SealBroken(f"{name} is not base64") from exc
        if len(key) != 32:
            raise SealBroken(f"{name} must be 32 bytes (base64 of 32 random bytes)")
        return key
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return hkdf.derive(secret_key.encode())


def backup_key() -> bytes:
    """The key backups are encrypted with (``MADOGUCHI_BACKUP_KEY``, else derived from SECRET_KEY)."""
    return _key(
        settings.MADOGUCHI_BACKUP_KEY, settings.SECRET_KEY, "MADOGUCHI_BACKUP_KEY", b"madoguchi backup key v1"
    )


def _aead() -> AESGCM:
    return _cipher(_key(settings.MADOGUCHI_DATA_KEY, settings.SECRET_KEY))


@lru_cache(maxsize=4)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)  # stateless between calls: one per key serves every seal and unseal


def seal(plain: str, *, purpose: str) -> str:
    """``plain`` encrypted for ``purpose`` (e.g. ``"individual_number"``); "" stays ""."""
    if not plain:
        return ""
    nonce = os.urandom(12)
    sealed = _aead().encrypt(nonce, plain.encode(), purpose.encode())
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def unseal(token: str, *, purpose: str) -> str:
    """The plain text of a token from ``seal`` with the same purpose; "" stays ""."""
    return opener(purpose)(token) if token else ""


def opener(purpose: str) -> Callable[[str], str]:
    """``unseal`` for many tokens of one purpose: the key is looked up once."""
    aead, associated = _aead(), purpose.encode()

    def open_one(token: str) -> str:
        if not token:
            return ""
        if not token.startswith(PREFIX):
            raise SealBroken("not a sealed value")
        try:
            raw = base64.b64decode(token[len(PREFIX) :], validate=True)
            return aead.decrypt(raw[:12], raw[12:], associated).decode()
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise SealBroken("the sealed value was altered or sealed under another key or purpose") from exc

    return open_one


def sign(data: bytes, *, purpose: str) -> str:
    """An HMAC-SHA256 of ``data`` for ``purpose`` under the data key (hex): proves later that the data key's holder
    wrote it (e.g. the audit log's checkpoints)."""
    key = _key(settings.MADOGUCHI_DATA_KEY, settings.SECRET_KEY)
    return hmac.new(key, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()


def signed(data: bytes, signature: str, *, purpose: str) -> bool:
    return hmac.compare_digest(sign(data, purpose=purpose), signature)
