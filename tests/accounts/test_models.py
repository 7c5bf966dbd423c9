import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError

from accounts import services
from accounts.models import ApiToken, ExpertiseTag, hash_token_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_user_model_is_the_custom_one():
    assert get_user_model()._meta.label == "accounts.User"


def test_users_carry_expertise_tags():
    user = UserFactory()
    user.expertise.add(ExpertiseTag.objects.create(name="insurance"))
    assert list(user.expertise.values_list("name", flat=True)) == ["insurance"]


def test_expertise_tag_names_are_unique():
    ExpertiseTag.objects.create(name="banking")
    with pytest.raises(IntegrityError):
        ExpertiseTag.objects.create(name="banking")


def test_api_token_is_stored_hashed_and_found_by_key():
    user = UserFactory()
    key = services.create_api_token(user=user)
    token = ApiToken.objects.get(user=user)
    assert key not in (token.key_hash, token.prefix)
    assert token.key_hash == hash_token_key(key)
    assert token.prefix == key[:8]
    assert ApiToken.objects.for_key(key) == token
    assert ApiToken.objects.for_key(key + "x") is None


def test_obtain_api_token_refuses_wrong_password():
    UserFactory(username="kim")
    with pytest.raises(services.InvalidCredentials):
        services.obtain_api_token(username="kim", password="nope")
    assert not ApiToken.objects.exists()
