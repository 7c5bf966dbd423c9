from django.contrib.auth import authenticate

from accounts.models import ApiToken, User, hash_token_key


class InvalidCredentials(Exception):
    pass


def create_api_token(*, user: User, name: str = "api") -> str:
    """Create an API token for the user and return its key, which is not stored."""
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=user, name=name, prefix=key[:8], key_hash=hash_token_key(key))
    return key


def obtain_api_token(*, username: str, password: str, name: str = "api") -> str:
    """Check a username and password and return a new API token key."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Unable to log in with the given username and password.")
    return create_api_token(user=user, name=name)
