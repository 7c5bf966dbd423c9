"""One conversation's whole trip: imported from a file, labeled, exported over the API."""

import orjson
import pytest
from django.core.management import call_command

from tests.helpers import api_client_for

pytestmark = pytest.mark.django_db


def test_a_conversation_travels_from_file_to_labels_to_export(tmp_path, project, annotator):
    path = tmp_path / "chats.jsonl"
    path.write_bytes(
        orjson.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are Lumen Bank's assistant."},
                    {"role": "user", "content": "Raise my card limit to 50k now."},
                    {"role": "assistant", "content": "I can't change limits; call 555-0100."},
                ]
            }
        )
        + b"\n"
    )
    call_command("import_conversations", str(path), project=project.slug)

    api = api_client_for(annotator)
    task = api.post(f"/api/v1/projects/{project.slug}/tasks/next/").json()
    assert [t["role"] for t in task["conversation"]["turns"]] == ["system", "user", "assistant"]
    saved = api.put(
        f"/api/v1/tasks/{task['id']}/annotation/",
        {
            "version": task["annotation"]["version"],
            "turns": {
                "1": {"prompt_traits": ["out_of_scope"]},
                "2": {
                    "observed_behavior": ["refused", "deferred"],
                    "expected_behavior": "defer",
                    "factuality": "not_applicable",
                },
            },
            "conversation": {"overall": 5},
            "submit": True,
        },
        format="json",
    )
    assert saved.status_code == 200, saved.json()

    response = api.get(f"/api/v1/projects/{project.slug}/export/?format=native")
    assert response["Content-Type"] == "application/x-ndjson"
    [record] = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert record["id"].startswith("sha256:")
    assert record["turns"][2] == {
        "index": 2,
        "role": "assistant",
        "text": "I can't change limits; call 555-0100.",
        "metadata": {},
    }
    [annotation] = record["annotations"]
    assert annotation["annotator"] == annotator.username
    assert annotation["status"] == "submitted" and annotation["submitted_at"]
    assert annotation["turns"]["2"]["observed_behavior"] == ["refused", "deferred"]
    assert annotation["conversation"] == {"overall": 5}
