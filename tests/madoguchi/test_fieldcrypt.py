"""Values stored only encrypted (the individual number): sealed per purpose, refused when altered, and the deploy
check that asks for a key of its own."""

import base64

import pytest

from integrations.checks import data_key_check
from madoguchi.fieldcrypt import SealBroken, seal, unseal

NUMBER = "123456789018"


def test_a_sealed_value_opens_only_for_its_purpose_and_unaltered() -> None:
    token = seal(NUMBER, purpose="individual_number")
    assert NUMBER not in token and token.startswith("v1.")
    assert seal(NUMBER, purpose="individual_number") != token  # a fresh nonce each time
    assert unseal(token, purpose="individual_number") == NUMBER
    with pytest.raises(SealBroken):
        unseal(token, purpose="pin")
    raw = bytearray(base64.b64decode(token[3:]))
    raw[-1] ^= 1
    with pytest.raises(SealBroken, match="altered"):
        unseal("v1." + base64.b64encode(bytes(raw)).decode(), purpose="individual_number")
    with pytest.raises(SealBroken):
        unseal(NUMBER, purpose="individual_number")
    assert seal("", purpose="x") == "" and unseal("", purpose="x") == ""


def test_a_key_of_its_own_and_a_changed_key_refuses_old_values(settings) -> None:
    settings.MADOGUCHI_DATA_KEY = base64.b64encode(b"k" * 32).decode()
    token = seal(NUMBER, purpose="individual_number")
    settings.MADOGUCHI_DATA_KEY = base64.b64encode(b"j" * 32).decode()
    with pytest.raises(SealBroken):
        unseal(token, purpose="individual_number")
    settings.MADOGUCHI_DATA_KEY = base64.b64encode(b"short").decode()
    with pytest.raises(SealBroken, match="32 bytes"):
        seal(NUMBER, purpose="individual_number")


def test_check_deploy_warns_without_a_data_key(settings) -> None:
    settings.MADOGUCHI_DATA_KEY = ""
    (warning,) = data_key_check()
    assert warning.id == "madoguchi.W001"
    settings.MADOGUCHI_DATA_KEY = base64.b64encode(b"k" * 32).decode()
    assert data_key_check() == []
