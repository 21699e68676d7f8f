"""Sessions that an open push stream does not write back.

Django saves the session at the end of every request (``SESSION_SAVE_EVERY_REQUEST``: the idle timeout runs from
the last request). A server-sent-events response is returned as soon as the stream opens, so saving it would write
back the session as it was loaded then: a code stored by a request that finished meanwhile (the tablet pairing code
after "show a code", the card-login state) would be lost. Under WSGI the stream reconnects every two seconds and made
this a real race. An open stream is not activity either: a clerk's page left open must still time out.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase

R = TypeVar("R", bound=HttpResponseBase)

SESSION_UNTOUCHED = "_madoguchi_session_untouched"


def session_untouched(response: R) -> R:
    """Mark ``response`` as one after which the session is neither saved nor its cookie renewed."""
    setattr(response, SESSION_UNTOUCHED, True)
    return response


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, except for responses marked with :func:`session_untouched`."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(response, SESSION_UNTOUCHED, False):
            return response
        return super().process_response(request, response)
