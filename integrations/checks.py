"""System checks of the integrations app (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def data_key_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The individual number in the outbox is sealed with MADOGUCHI_DATA_KEY; without it the key is derived from
    DJANGO_SECRET_KEY, which then cannot be rotated without losing what is sealed."""
    if settings.MADOGUCHI_DATA_KEY:
        from madoguchi.fieldcrypt import SealBroken, seal

        try:
            seal("check", purpose="check")
        except SealBroken as exc:
            return [Error(str(exc), hint="Base64 of 32 random bytes.", id="madoguchi.E001")]
        return []
    return [
        Warning(
            "MADOGUCHI_DATA_KEY is not set: the individual number is sealed with a key derived from "
            "DJANGO_SECRET_KEY.",
            hint='Set MADOGUCHI_DATA_KEY to base64 of 32 random bytes (python -c "import base64, os; '
            'print(base64.b64encode(os.urandom(32)).decode())").',
            id="madoguchi.W001",
        )
    ]
