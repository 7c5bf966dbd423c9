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
