"""The context counters hands the forms engine is the one its bindings document: a key that drifted on either
side would let a form admin write a binding that always reads nothing."""

import pytest

from counters.selectors import form_context
from forms_engine.bindings import CONTEXT_ROOTS, PERSON_KEYS, SESSION_KEYS
from forms_engine.selectors import form_sample_context
from integrations.models import Resident
from tests.factories import CounterFactory, atena

pytestmark = pytest.mark.django_db


def test_the_counter_context_has_exactly_the_documented_keys(small_city) -> None:
    resident = Resident.objects.get(atena_no=atena(1))
    context = form_context(
        resident=resident, reception_no="20261121-c1-0001", counter=CounterFactory.create()
    )
    assert set(context) == CONTEXT_ROOTS - {"fields"}  # ``fields`` is added by form_fill
    assert set(context["resident"]) == PERSON_KEYS
    assert context["household"] and all(set(person) == PERSON_KEYS for person in context["household"])
    assert set(context["session"]) == SESSION_KEYS


def test_the_sample_household_has_the_same_shape() -> None:
    context = form_sample_context()
    assert set(context) == CONTEXT_ROOTS - {"fields"}
    assert all(set(person) == PERSON_KEYS for person in [context["resident"], *context["household"]])
    assert set(context["session"]) == SESSION_KEYS
