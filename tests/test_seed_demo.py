import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from annotation.models import Conversation, Task, Turn
from projects.models import Membership, Project

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_logins_and_a_realistic_project(capsys):
    call_command("seed_demo", password="demo-password-1")
    out = capsys.readouterr().out
    project = Project.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"lead": "lead", "ana": "annotator", "ben": "annotator"}
    for username in roles:
        assert authenticate(username=username, password="demo-password-1") is not None
        assert username in out
    assert "demo-password-1" in out
    conversations = Conversation.objects.filter(project=project)
    assert conversations.count() >= 30
    domains = set(conversations.values_list("metadata__domain", flat=True))
    assert {"it_helpdesk", "hr_policy", "insurance", "banking", "product_support"} <= domains
    assert Turn.objects.filter(conversation__project=project, role="assistant").count() >= 60
    assert Task.objects.filter(project=project).count() == conversations.count() * project.overlap


def test_seed_demo_is_safe_to_run_twice_and_prints_new_passwords(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert Project.objects.filter(slug="demo").count() == 1
    assert "36 already there" in second
    assert first != second  # fresh random passwords each run
