"""Answers keep the schema and guidelines they were made under, in the data and the export."""

import orjson
import pytest

from annotation import exporters, queue
from annotation.models import Annotation
from projects import services as project_services
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_each_annotation_keeps_and_exports_its_schema_and_guidelines_versions(
    owner, annotator, reviewer
):
    project = project_services.create_project(
        creator=owner, slug="v", name="Versions", overlap=2, guidelines="Be careful."
    )
    for user in (annotator, reviewer):
        project_services.set_membership(
            project=project, actor=owner, username=user.username, role="annotator"
        )
    ConversationFactory(project=project)
    first = queue.claim_next_task(project=project, user=annotator)

    # Labeling started: both edits are new versions now.
    project_services.save_schema(
        project=project,
        actor=owner,
        questions=[{"key": "ok", "prompt": "Fine?", "kind": "boolean", "roles": ["assistant"]}],
    )
    project_services.update_project(project=project, actor=owner, guidelines="Be very careful.")
    project.refresh_from_db()
    assert (project.guidelines_version, project.guidelines) == (2, "Be very careful.")
    assert project.guidelines_versions.get(version=1).text == "Be careful."

    second = queue.claim_next_task(project=project, user=reviewer)
    versions = {
        a.task_id: (a.schema.version, a.guidelines_version)
        for a in Annotation.objects.select_related("schema")
    }
    assert versions == {first.pk: (1, 1), second.pk: (2, 2)}
    # The first annotator's draft still answers the questions it was given.
    assert Annotation.objects.get(task=first).schema.questions.filter(key="factuality").exists()

    [line] = list(exporters.export_native(project))
    exported = {
        a["annotator"]: (a["schema_version"], a["guidelines_version"])
        for a in orjson.loads(line)["annotations"]
    }
    assert exported == {annotator.username: (1, 1), reviewer.username: (2, 2)}
