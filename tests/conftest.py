"""Personas and shared fixtures.

- owner: leads the project
- reviewer and annotator: members with those roles
- outsider: signed in, but not a member
"""

import os
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from accounts import services as account_services
from annotation import turns as turn_cache
from config.celery import app as celery_app
from projects import cache as schema_cache
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import api_client_for

ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")
)
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Playwright's sync API runs an event loop in the test thread; ORM calls in browser tests
# would otherwise raise SynchronousOnlyOperation.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, monkeypatch, request, media_root):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = media_root
    # Throttling has its own test; elsewhere many logins in a minute are expected.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": None})
    # Only the worker integration tests send tasks to a real broker.
    if request.node.get_closest_marker("celery_worker") is None:
        monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    # What the caches kept from an earlier test's rows, which its rollback removed without
    # a signal: the expertise names, and the questions and turns kept in this process.
    cache.delete(account_services.EXPERTISE_NAMES_KEY)
    schema_cache._local.clear()
    turn_cache._local.clear()


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia")


@pytest.fixture
def annotator(db):
    return UserFactory(username="anna")


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rafael")


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar")


@pytest.fixture
def project(owner, annotator, reviewer):
    project = ProjectFactory(created_by=owner, slug="support", name="Support bot audit")
    MembershipFactory(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    MembershipFactory(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return project


@pytest.fixture
def conversation(project):
    return ConversationFactory(project=project, turns=5)


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated with a fresh token of that user."""
    return api_client_for


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium; CI does)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def immediate_on_commit(monkeypatch):
    """Run transaction.on_commit callbacks at once (tests never commit)."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())
