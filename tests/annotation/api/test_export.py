import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import exporters
from annotation.models import Flag
from tests.factories import ConversationFactory, ProjectFactory, claimed_task

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/support/export/"

REQUIRED = {
    "observed_behavior": ["answered"],
    "expected_behavior": "answer",
    "factuality": "correct",
}


def _lines(response) -> list[dict]:
    body = b"".join(response.streaming_content)
    return [json.loads(line) for line in body.splitlines()]


def _save(client, task, *, turns=None, conversation=None, submit=False) -> None:
    response = client.put(
        f"/api/v1/tasks/{task.id}/annotation/",
        {"version": 1, "turns": turns or {}, "conversation": conversation or {}, "submit": submit},
        format="json",
    )
    assert response.status_code == 200, response.json()


def test_export_streams_one_json_line_per_conversation_with_its_turns(
    api, annotator, owner, project
):
    first = ConversationFactory(project=project, turns=2, metadata={"domain": "billing"})
    ConversationFactory(project=ProjectFactory(slug="other", created_by=owner))
    second = ConversationFactory(project=project, turns=3)

    response = api(annotator).get(URL, {"format": "native"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"] == 'attachment; filename="support-native.jsonl"'
    lines = _lines(response)
    assert [line["id"] for line in lines] == [first.external_id, second.external_id]
    assert lines[0] == {
        "id": first.external_id,
        "metadata": {"domain": "billing"},
        "turns": [
            {"index": 0, "role": "system", "text": "system says 0", "metadata": {}},
            {"index": 1, "role": "user", "text": "user says 1", "metadata": {}},
        ],
        "annotations": [],
        "flags": [],
    }
    assert len(lines[1]["turns"]) == 3


def test_export_contains_the_labels_after_a_submit(api, annotator, project, conversation):
    task = claimed_task(project, annotator, conversation)
    _save(
        api(annotator),
        task,
        turns={"2": REQUIRED, "4": {**REQUIRED, "factuality": "fabricated"}},
        conversation={"overall": 2},
        submit=True,
    )

    (line,) = _lines(api(annotator).get(URL, {"format": "native", "status": "submitted"}))

    (annotation,) = line["annotations"]
    assert annotation["annotator"] == "anna"
    assert annotation["status"] == "submitted"
    assert annotation["turns"] == {"2": REQUIRED, "4": {**REQUIRED, "factuality": "fabricated"}}
    assert annotation["conversation"] == {"overall": 2}
    assert annotation["submitted_at"] is not None


def test_drafts_are_exported_only_without_status_submitted(
    api, annotator, reviewer, project, owner
):
    project.overlap = 2
    project.save()
    conversation = ConversationFactory(project=project, turns=3)
    _save(
        api(annotator),
        claimed_task(project, annotator, conversation),
        turns={"2": REQUIRED},
        submit=True,
    )
    _save(
        api(reviewer),
        claimed_task(project, reviewer, conversation),
        conversation={"notes": "half done"},
    )

    everything = _lines(api(owner).get(URL, {"format": "native"}))
    submitted = _lines(api(owner).get(URL, {"format": "native", "status": "submitted"}))

    assert [(a["annotator"], a["status"]) for a in everything[0]["annotations"]] == [
        ("anna", "submitted"),
        ("rafael", "draft"),
    ]
    assert everything[0]["annotations"][1]["conversation"] == {"notes": "half done"}
    assert everything[0]["annotations"][1]["submitted_at"] is None
    assert [a["annotator"] for a in submitted[0]["annotations"]] == ["anna"]


def test_export_of_a_project_without_conversations_is_empty(api, owner, project):
    response = api(owner).get(URL, {"format": "native"})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b""


def test_export_covers_every_conversation_across_chunks_in_order(api, owner, project, monkeypatch):
    monkeypatch.setattr(exporters, "CHUNK_SIZE", 2)
    conversations = ConversationFactory.create_batch(5, project=project, turns=1)

    lines = _lines(api(owner).get(URL, {"format": "native"}))

    assert [line["id"] for line in lines] == [c.external_id for c in conversations]


def test_open_flags_go_with_their_conversation_and_flagged_exclude_leaves_it_out(
    api, annotator, owner, project, monkeypatch
):
    monkeypatch.setattr(exporters, "CHUNK_SIZE", 2)
    clean, flagged, fixed = ConversationFactory.create_batch(3, project=project, turns=1)
    pii = Flag.objects.create(
        project=project, conversation=flagged, raised_by=annotator, kind="pii", note="A name"
    )
    Flag.objects.create(
        project=project,
        conversation=fixed,
        raised_by=annotator,
        kind="broken",
        resolved_at=timezone.now(),  # dealt with: not listed
    )

    lines = _lines(api(owner).get(URL, {"format": "native"}))

    assert [line["id"] for line in lines] == [c.external_id for c in (clean, flagged, fixed)]
    assert lines[1]["flags"] == [
        {"kind": "pii", "note": "A name", "raised_at": pii.created_at.isoformat()}
    ]
    assert lines[0]["flags"] == [] and lines[2]["flags"] == []

    kept = _lines(api(owner).get(URL, {"format": "native", "flagged": "exclude"}))
    assert [line["id"] for line in kept] == [clean.external_id, fixed.external_id]


def test_unknown_flagged_value_gets_400_naming_the_choices(api, owner, conversation):
    response = api(owner).get(URL, {"format": "native", "flagged": "only"})

    assert response.status_code == 400
    assert response.json() == {"flagged": 'Expected "include" or "exclude".'}


def test_unknown_format_gets_400_naming_the_format(api, owner, conversation):
    response = api(owner).get(URL, {"format": "csv"})

    assert response.status_code == 400
    assert response.json() == {"format": 'Unknown format "csv" (expected native).'}


def test_unknown_status_gets_400_naming_the_choices(api, owner, conversation):
    response = api(owner).get(URL, {"format": "native", "status": "draft"})

    assert response.status_code == 400
    assert response.json() == {"status": 'Expected "all" or "submitted".'}


def test_outsider_gets_404_exporting_and_sees_no_data(api, outsider, conversation):
    response = api(outsider).get(URL, {"format": "native"})

    assert response.status_code == 404
    assert not response.streaming
    assert conversation.external_id.encode() not in response.content


def test_unauthenticated_export_gets_401(conversation):
    response = APIClient().get(URL, {"format": "native"})

    assert response.status_code == 401
    assert not response.streaming


def test_posting_to_export_gets_405(api, owner, conversation):
    response = api(owner).post(URL, {"format": "native"}, format="json")

    assert response.status_code == 405
