"""Rate limits for the endpoints a stranger can call without a browser session: guessing a terminal's one-time
registration code or a counter's pairing code, or flooding the agents' event API (issue 8, R-S: hardening).

A fixed window per scope and key (a terminal or counter code, not the client's address: behind the city's proxy
every client has the same one), counted in Django's cache — Redis when REDIS_URL is set, so every server process
counts together; per process otherwise (the demo). Rates: ``settings.MADOGUCHI_THROTTLE_RATES``, e.g. ``"10/m"``.
If the cache is down the request goes through (a counter must not stop for it) and a warning is logged."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600}


def rate(scope: str) -> tuple[int, int]:
    """(requests, seconds) of ``scope``'s configured rate."""
    count, _, period = settings.MADOGUCHI_THROTTLE_RATES[scope].partition("/")
    return int(count), PERIODS[period]


def over_limit(scope: str, key: str) -> int:
    """Count one request of ``key`` under ``scope``; return 0 while within the rate, else the seconds until the
    window ends (for Retry-After)."""
    limit, window = rate(scope)
    now = time.time()
    bucket = f"throttle:{scope}:{key}:{int(now // window)}"
    try:
        count = 1 if cache.add(bucket, 1, timeout=window + 1) else cache.incr(bucket)
    except Exception:  # the cache (Redis) unreachable: let the request through
        logger.warning("rate limit of %s not counted: the cache is unreachable", scope)
        return 0
    return 0 if count <= limit else max(1, int(window - now % window))
