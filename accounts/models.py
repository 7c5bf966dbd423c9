import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class ExpertiseTag(models.Model):
    """A domain an annotator knows well (e.g. "insurance", "oncology"); routes work."""

    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    expertise = models.ManyToManyField(ExpertiseTag, blank=True, related_name="users")

    def __str__(self) -> str:
        return self.username


def hash_token_key(key: str) -> str:
    # Keys are 256 random bits, so a fast digest is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def for_key(self, key: str) -> "ApiToken | None":
        return self.select_related("user").filter(key_hash=hash_token_key(key)).first()


class ApiToken(models.Model):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="api")
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.prefix}…"

    @staticmethod
    def generate_key() -> str:
        return secrets.token_urlsafe(32)
