from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiToken

# Refresh last_used_at at most this often, so every request is not a write.
_LAST_USED_RESOLUTION_SECONDS = 300


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token KEY`, checked against the stored hash of the key."""

    def authenticate_credentials(self, key: str):
        token = ApiToken.objects.for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        now = timezone.now()
        last = token.last_used_at
        if last is None or (now - last).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)
