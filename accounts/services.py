from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction

from accounts.models import ApiToken, ExpertiseTag, User, hash_token_key


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


# The workspace offers every expertise in its skip menu on each page; the list seldom
# changes, so it is read from the cache, which saving or deleting a tag clears (the TTL
# covers bulk changes, which send no signal).
EXPERTISE_NAMES_KEY = "expertise-names"
EXPERTISE_NAMES_TTL = 300
EXPERTISE_NAMES_SHOWN = 200


def expertise_names() -> list[str]:
    """The names of the known expertise tags, in order (at most EXPERTISE_NAMES_SHOWN)."""
    names = cache.get(EXPERTISE_NAMES_KEY)
    if names is None:
        names = list(ExpertiseTag.objects.values_list("name", flat=True)[:EXPERTISE_NAMES_SHOWN])
        cache.set(EXPERTISE_NAMES_KEY, names, EXPERTISE_NAMES_TTL)
    return names


def forget_expertise_names(**_kwargs) -> None:
    # Now and once the change is committed: a page loaded in between would otherwise put
    # the old list back for EXPERTISE_NAMES_TTL.
    cache.delete(EXPERTISE_NAMES_KEY)
    transaction.on_commit(lambda: cache.delete(EXPERTISE_NAMES_KEY))
