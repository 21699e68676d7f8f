"""The staff session's idle timeout (madoguchi.sessions): renewed by requests, at most every
MADOGUCHI_SESSION_RENEW_SECONDS unless it changed, so a page view does not rewrite the session row."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from madoguchi.sessions import RENEWED_KEY, SessionMiddleware

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk_client() -> Client:
    user = UserFactory.create(roles=["clerk"])
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _row(client: Client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def _age_renewal(client: Client, seconds: int) -> None:
    """Pretend the last renewal was ``seconds`` ago (the row and its expiry too)."""
    session = client.session
    session[RENEWED_KEY] -= seconds
    session.save()
    Session.objects.filter(session_key=session.session_key).update(
        expire_date=timezone.now() + dt.timedelta(seconds=1800 - seconds)
    )


def test_the_login_sets_the_full_idle_timeout(clerk_client: Client, settings: Settings) -> None:
    assert settings.SESSION_COOKIE_AGE == 1800 and settings.MADOGUCHI_SESSION_RENEW_SECONDS == 60
    remaining = (_row(clerk_client).expire_date - timezone.now()).total_seconds()
    assert 1790 < remaining <= 1800


def test_a_page_view_soon_after_the_last_renewal_writes_nothing(clerk_client: Client) -> None:
    before = _row(clerk_client)
    response = clerk_client.get(reverse("counters:home"))
    assert response.status_code == 200
    assert _row(clerk_client).expire_date == before.expire_date and _row(clerk_client).session_data == (
        before.session_data
    )
    assert "sessionid" not in response.cookies  # the cookie is not sent again either


def test_a_page_view_a_minute_after_the_last_renewal_renews_the_idle_timeout(clerk_client: Client) -> None:
    _age_renewal(clerk_client, 61)
    assert (_row(clerk_client).expire_date - timezone.now()).total_seconds() < 1740
    response = clerk_client.get(reverse("counters:home"))
    assert response.status_code == 200
    assert int(response.cookies["sessionid"]["max-age"]) == 1800
    assert 1790 < (_row(clerk_client).expire_date - timezone.now()).total_seconds() <= 1800


def test_an_idle_session_ends_and_the_next_page_asks_for_a_login(clerk_client: Client) -> None:
    Session.objects.filter(session_key=clerk_client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = clerk_client.get(reverse("counters:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


def test_a_session_that_changed_is_saved_at_once(clerk_client: Client) -> None:
    """A pairing code shown on the desk is kept in the session: it must be there on the next page, renewal due
    or not."""
    session = clerk_client.session
    request = HttpRequest()
    request.COOKIES["sessionid"] = str(session.session_key)

    def view(request: HttpRequest) -> HttpResponse:
        request.session["note"] = "changed"
        return HttpResponse("ok")

    response = SessionMiddleware(view)(request)
    assert isinstance(response, HttpResponse) and "sessionid" in response.cookies
    stored = SessionStore(session_key=session.session_key).load()
    assert stored["note"] == "changed" and stored[RENEWED_KEY] >= session[RENEWED_KEY]
