"""A schema or guidelines change edits the current version until labeling starts under it;
after that it is the next version, and what was labeled keeps pointing at the old one."""

import pytest

from annotation import queue
from annotation.models import Annotation
from projects import schemas, services
from projects.exceptions import InvalidInput, NotAllowed
from projects.models import GuidelinesVersion, LabelSchema, Question
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

TONE = {
    "key": "tone",
    "prompt": "Is the tone right?",
    "roles": ["assistant"],
    "kind": "single",
    "options": [{"value": "friendly", "hotkey": "w"}, {"value": "curt", "hotkey": "c"}],
}
OVERALL = {"key": "overall", "prompt": "Overall", "scope": "conversation", "kind": "rating"}


def versions(project) -> list[int]:
    return list(
        LabelSchema.objects.filter(project=project)
        .order_by("version")
        .values_list("version", flat=True)
    )


def keys(schema) -> list[str]:
    return list(schema.questions.values_list("key", flat=True))


# --- The label schema ---


def test_editing_before_any_annotation_edits_the_version_in_place(project, owner):
    schema = LabelSchema.objects.current_for(project)

    saved = services.save_schema(project=project, actor=owner, questions=[TONE, OVERALL])

    assert saved.pk == schema.pk and saved.version == 1
    assert versions(project) == [1]
    assert keys(saved) == ["tone", "overall"]
    assert Question.objects.filter(schema__project=project).count() == 2


def test_after_labeling_started_a_change_is_the_next_version_and_old_questions_stay(project, owner):
    v1 = LabelSchema.objects.current_for(project)
    services.mark_in_use(schema=v1, project=project)
    v1_questions = list(v1.questions.values())

    v2 = services.save_schema(project=project, actor=owner, questions=[TONE])

    assert (v2.version, v2.in_use) == (2, False)
    assert versions(project) == [1, 2]
    assert LabelSchema.objects.current_for(project) == v2
    assert keys(v2) == ["tone"]
    v1.refresh_from_db()
    assert v1.in_use and list(v1.questions.values()) == v1_questions


def test_the_next_version_is_edited_in_place_until_it_is_used_too(project, owner):
    services.mark_in_use(schema=LabelSchema.objects.current_for(project), project=project)
    v2 = services.save_schema(project=project, actor=owner, questions=[TONE])

    again = services.save_schema(project=project, actor=owner, questions=[TONE, OVERALL])

    assert again.pk == v2.pk and versions(project) == [1, 2]
    services.mark_in_use(schema=again, project=project)
    assert services.save_schema(project=project, actor=owner, questions=[OVERALL]).version == 3


def test_saving_the_same_questions_again_makes_no_new_version(project, owner):
    schema = LabelSchema.objects.current_for(project)
    services.mark_in_use(schema=schema, project=project)
    ids = list(schema.questions.values_list("id", flat=True))

    same = services.save_schema(
        project=project, actor=owner, questions=schemas.schema_as_dict(schema)["questions"]
    )

    assert same.pk == schema.pk and versions(project) == [1]
    assert list(schema.questions.values_list("id", flat=True)) == ids


def test_a_reordering_is_a_change(project, owner):
    services.save_schema(project=project, actor=owner, questions=[TONE, OVERALL])
    services.mark_in_use(schema=LabelSchema.objects.current_for(project), project=project)

    v2 = services.save_schema(project=project, actor=owner, questions=[OVERALL, TONE])

    assert v2.version == 2 and keys(v2) == ["overall", "tone"]


def test_an_invalid_schema_changes_nothing(project, owner):
    schema = LabelSchema.objects.current_for(project)
    before = schemas.schema_as_dict(schema)

    with pytest.raises(InvalidInput, match=r'questions\[2\] \("overall"\)'):
        services.save_schema(project=project, actor=owner, questions=[TONE, {**OVERALL, "max": 1}])

    assert versions(project) == [1]
    assert schemas.schema_as_dict(LabelSchema.objects.current_for(project)) == before


def test_only_leads_save_a_schema(project, annotator, reviewer):
    for actor in (annotator, reviewer):
        with pytest.raises(NotAllowed):
            services.save_schema(project=project, actor=actor, questions=[TONE])
    assert keys(LabelSchema.objects.current_for(project)) != ["tone"]


def test_claiming_a_task_puts_the_schema_in_use_and_the_annotation_keeps_its_version(
    project, owner, annotator
):
    ConversationFactory(project=project)

    task = queue.claim_next_task(project=project, user=annotator)
    services.save_schema(project=project, actor=owner, questions=[TONE])

    annotation = Annotation.objects.get(task=task)
    assert annotation.schema.version == 1 and annotation.schema.in_use
    assert len(keys(annotation.schema)) > 1
    assert LabelSchema.objects.current_for(project).version == 2


# --- Guidelines ---


def test_guidelines_are_edited_in_place_before_labeling(project, owner):
    services.update_project(project=project, actor=owner, guidelines="Be kind.")
    services.update_project(project=project, actor=owner, guidelines="Be brief.")

    project.refresh_from_db()
    assert (project.guidelines, project.guidelines_version) == ("Be brief.", 1)
    assert list(
        GuidelinesVersion.objects.filter(project=project).values_list("version", "text")
    ) == [(1, "Be brief.")]


def test_guidelines_changed_after_labeling_started_are_the_next_version(project, owner):
    services.update_project(project=project, actor=owner, guidelines="Be kind.")
    services.mark_in_use(schema=LabelSchema.objects.current_for(project), project=project)

    services.update_project(project=project, actor=owner, guidelines="Be brief.")

    project.refresh_from_db()
    assert (project.guidelines, project.guidelines_version) == ("Be brief.", 2)
    rows = GuidelinesVersion.objects.filter(project=project).order_by("version")
    assert [(v.version, v.text, v.in_use) for v in rows] == [
        (1, "Be kind.", True),
        (2, "Be brief.", False),
    ]


def test_the_same_guidelines_again_make_no_new_version(project, owner):
    services.update_project(project=project, actor=owner, guidelines="Be kind.")
    services.mark_in_use(schema=LabelSchema.objects.current_for(project), project=project)

    services.update_project(project=project, actor=owner, guidelines="Be kind.")

    project.refresh_from_db()
    assert project.guidelines_version == 1
    assert GuidelinesVersion.objects.filter(project=project).count() == 1


def test_an_annotation_keeps_the_guidelines_version_it_was_made_under(project, owner, annotator):
    services.update_project(project=project, actor=owner, guidelines="Be kind.")
    ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)

    services.update_project(project=project, actor=owner, guidelines="Be brief.")

    assert Annotation.objects.get(task=task).guidelines_version == 1
    project.refresh_from_db()
    assert project.guidelines_version == 2
    assert GuidelinesVersion.objects.get(project=project, version=1).text == "Be kind."
