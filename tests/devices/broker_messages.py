"""The messages waiting on one queue of the real broker: kombu's filesystem transport (one file per message) or
Redis (a list named after the queue). No agent consumes the tests' terminal queues, so tests read and drop them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from django.conf import settings


class QueueMessages:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.redis: Any = None
        if settings.CELERY_BROKER_URL.startswith("redis"):
            import redis

            self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.before = set(self._raw())

    def _files(self) -> list[Path]:
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))
        return sorted(folder.glob(f"*.{self.queue}.msg"))

    def _raw(self) -> list[str]:
        if self.redis is not None:
            return [raw.decode() for raw in self.redis.lrange(self.queue, 0, -1)]
        return [path.read_text() for path in self._files()]

    def new(self) -> list[dict[str, Any]]:
        """The messages sent since this object was made, as kombu's JSON envelopes, oldest first."""
        return [json.loads(text) for text in self._raw() if text not in self.before]

    def drop_new(self) -> None:
        texts = [text for text in self._raw() if text not in self.before]
        if self.redis is not None:
            for text in texts:
                self.redis.lrem(self.queue, 1, text)
            return
        for path in self._files():
            if path.read_text() in texts:
                path.unlink()


def task_kwargs(message: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments in a Celery (protocol 2) message's body."""
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return dict(kwargs)


def message_text(message: dict[str, Any]) -> str:
    """Everything a broker keeps of a message, its body decoded: what someone reading the broker could see."""
    return json.dumps(message, ensure_ascii=False) + base64.b64decode(message["body"]).decode()


def card_secret(message: dict[str, Any], *, terminal: str, secret: str) -> str:
    """The card secret (PIN, 照合番号B, card number) a read_card command carries, opened as the agent of
    ``terminal`` would open it. Asserts it is in no other form in the message, and that its seal lets it be used
    for about a minute."""
    import time

    from devices import signing

    kwargs = task_kwargs(message)
    assert set(kwargs) == {"request_id", "kind", "sealed_pin"}, kwargs
    until, opened = signing.card_command_open(
        secret, kwargs["sealed_pin"], terminal=terminal, request_id=kwargs["request_id"], kind=kwargs["kind"]
    )
    assert 0 < until - time.time() <= 61
    assert opened not in message_text(message)
    return opened


def sealed_for(*, terminal: str, secret: str, request_id: str, kind: str, pin: str, seconds: int = 60) -> str:
    """A read_card command's ``sealed_pin``, as the server seals it for ``terminal``, usable ``seconds`` from now."""
    import time

    from devices import signing

    until = int(time.time()) + seconds
    return signing.card_command_seal(
        secret, pin, terminal=terminal, request_id=request_id, kind=kind, until=until
    )
