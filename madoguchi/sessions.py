"""Sessions with an idle timeout that do not cost a database write per request.

The idle timeout is the session's age (``SESSION_COOKIE_AGE``, ``MADOGUCHI_SESSION_IDLE_SECONDS``): it runs from the
clerk's last request. Django's way to get that, ``SESSION_SAVE_EVERY_REQUEST``, rewrites the session row (a
transaction and a WAL flush) and re-sends the cookie on every request, about half of the writes of a page view.
Here a session is renewed — saved with a fresh expiry and cookie — only when it changed or when its last renewal is
``MADOGUCHI_SESSION_RENEW_SECONDS`` (default 60) old; an idle session therefore ends between ``SESSION_COOKIE_AGE``
minus that much and ``SESSION_COOKIE_AGE`` after the last request.

A push stream (server-sent events) never writes the session back: the response is returned as soon as the stream
opens, so saving it would write back the session as it was loaded then, and a code stored by a request that finished
meanwhile (the tablet pairing code after "show a code") would be lost; under WSGI the stream reconnects every two
seconds and made this a real race. An open stream is not activity either: a page left open must still time out.
"""

from __future__ import annotations

import time
from typing import TypeVar

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase

R = TypeVar("R", bound=HttpResponseBase)

SESSION_UNTOUCHED = "_madoguchi_session_untouched"
RENEWED_KEY = "_madoguchi_renewed"  # when the session was last saved with a fresh expiry (epoch seconds)


def session_untouched(response: R) -> R:
    """Mark ``response`` as one after which the session is neither saved nor its cookie renewed."""
    setattr(response, SESSION_UNTOUCHED, True)
    return response


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, renewing a session at most every ``MADOGUCHI_SESSION_RENEW_SECONDS`` unless it
    changed, and never after responses marked with :func:`session_untouched`."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(response, SESSION_UNTOUCHED, False):
            return response
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():  # an empty one (signed out, anonymous) stays so
            now = int(time.time())
            renewed = session.get(RENEWED_KEY)
            age = abs(now - renewed) if isinstance(renewed, int) else None  # abs: the clock may be set back
            if session.modified or age is None or age >= settings.MADOGUCHI_SESSION_RENEW_SECONDS:
                session[RENEWED_KEY] = now  # marks it modified: Django saves it and sends the cookie again
        return super().process_response(request, response)
