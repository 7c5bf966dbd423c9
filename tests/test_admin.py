import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory, claimed_task

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model",
    [
        m
        for m in admin.site._registry
        if m._meta.app_label in {"accounts", "projects", "annotation"}
    ],
)
def test_every_model_has_a_working_admin_list_and_change_page(client, project, annotator, model):
    claimed_task(project, annotator)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    obj = model.objects.first()
    if obj is not None:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert client.get(url).status_code == 200


def test_all_our_models_are_registered():
    from django.apps import apps

    ours = [
        m for m in apps.get_models() if m._meta.app_label in {"accounts", "projects", "annotation"}
    ]
    assert sorted(m.__name__ for m in ours if m not in admin.site._registry) == []


def test_the_admin_leaves_task_and_guidelines_settings_to_the_services(client, project):
    # Changing them here would skip adding task slots or starting a guidelines version.
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    change = client.get(reverse("admin:projects_project_change", args=[project.pk]))
    add = client.get(reverse("admin:projects_project_add"))
    for field in ("overlap", "assignment_mode", "guidelines", "guidelines_version"):
        assert f'name="{field}"' not in change.content.decode(), field
    assert 'name="overlap"' in add.content.decode()
    assert 'name="guidelines_version"' not in add.content.decode()


def test_the_admin_shows_experts_answers_but_never_changes_them(client, project, annotator):
    # Only the app's save locks the task and moves the version: an admin edit would be lost
    # to the next autosave, or overwrite it.
    from annotation import services
    from annotation.models import Annotation, TurnAnswer

    task = claimed_task(project, annotator)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}},
        conversation={},
    )
    annotation, answer = Annotation.objects.get(task=task), TurnAnswer.objects.get()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:annotation_annotation_change", args=[annotation.pk]))
    assert page.status_code == 200 and "correct" in page.content.decode()
    assert 'name="version"' not in page.content.decode()  # shown, not a form field
    posted = client.post(
        reverse("admin:annotation_turnanswer_change", args=[answer.pk]),
        {"annotation": annotation.pk, "turn": answer.turn_id, "answers": '{"factuality": "x"}'},
    )
    assert posted.status_code == 403
    answer.refresh_from_db()
    assert answer.answers == {"factuality": "correct"}
