import pytest
from django.db import IntegrityError, transaction

from projects.models import LabelSchema, Membership, Project, Question
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _fails(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_overlap_is_between_one_and_ten_in_the_database():
    _fails(lambda: Project.objects.create(slug="a", name="A", overlap=0))
    _fails(lambda: Project.objects.create(slug="b", name="B", overlap=11))
    assert Project.objects.create(slug="c", name="C", overlap=10).overlap == 10


def test_project_slug_is_unique():
    Project.objects.create(slug="same", name="One")
    _fails(lambda: Project.objects.create(slug="same", name="Two"))


def test_one_membership_per_user_and_project(project, annotator):
    _fails(lambda: Membership.objects.create(project=project, user=annotator, role="lead"))


def test_membership_role_is_checked_by_the_database(project):
    _fails(lambda: Membership.objects.create(project=project, user=UserFactory(), role="boss"))


def test_schema_versions_are_unique_per_project(project):
    _fails(lambda: LabelSchema.objects.create(project=project, version=1))


def test_question_keys_are_unique_per_schema_and_kinds_are_checked(project):
    schema = LabelSchema.objects.current_for(project)
    _fails(
        lambda: Question.objects.create(schema=schema, key="factuality", prompt="x", kind="text")
    )
    _fails(lambda: Question.objects.create(schema=schema, key="new", prompt="x", kind="essay"))
    _fails(
        lambda: Question.objects.create(
            schema=schema, key="r", prompt="x", kind="rating", rating_min=5, rating_max=1
        )
    )


def test_project_list_for_user_shows_only_memberships(project, annotator, outsider):
    assert list(Project.objects.for_user(annotator)) == [project]
    assert list(Project.objects.for_user(outsider)) == []
