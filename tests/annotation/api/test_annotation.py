"""PUT /api/v1/tasks/{id}/annotation/.

The `conversation` fixture has five turns: 0 system, 1 user, 2 assistant, 3 user,
4 assistant. The default schema asks three required questions about assistant turns.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import queue
from annotation.models import Annotation, Task, TurnAnswer
from projects import services as project_services
from projects.taxonomy import DEFAULT_QUESTIONS
from tests.factories import claimed_task

pytestmark = pytest.mark.django_db

REQUIRED = {
    "observed_behavior": ["answered"],
    "expected_behavior": "answer",
    "factuality": "correct",
}
COMPLETE = {"2": REQUIRED, "4": REQUIRED}


@pytest.fixture
def task(project, annotator, conversation):
    return claimed_task(project, annotator, conversation)


def _url(task: Task) -> str:
    return f"/api/v1/tasks/{task.id}/annotation/"


def _state(task: Task) -> tuple:
    """Everything a refused PUT must leave alone."""
    annotation = Annotation.objects.get(task=task)
    task.refresh_from_db()
    turn_answers = dict(
        TurnAnswer.objects.filter(annotation=annotation).values_list("turn__index", "answers")
    )
    return (
        annotation.status,
        annotation.version,
        annotation.answers,
        turn_answers,
        task.status,
    )


UNTOUCHED = ("draft", 1, {}, {}, "in_progress")


# --- Saving and submitting -----------------------------------------------------------------


def test_saving_a_draft_stores_the_answers_and_bumps_the_version(api, annotator, task):
    client = api(annotator)
    response = client.put(
        _url(task),
        {
            "version": 1,
            "turns": {"2": {"factuality": "correct", "observed_behavior": ["answered"]}},
            "conversation": {"overall": 4, "notes": "Polite but vague."},
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["status"]) == (2, "draft")
    assert body["turns"] == {"2": {"factuality": "correct", "observed_behavior": ["answered"]}}
    assert body["conversation"] == {"overall": 4, "notes": "Polite but vague."}
    assert _state(task) == (
        "draft",
        2,
        {"overall": 4, "notes": "Polite but vague."},
        {2: {"factuality": "correct", "observed_behavior": ["answered"]}},
        "in_progress",
    )
    assert client.get(_url(task)).json()["turns"] == body["turns"]


def test_a_put_replaces_the_whole_set_of_answers(api, annotator, task):
    client = api(annotator)
    client.put(
        _url(task),
        {"version": 1, "turns": {"2": {"factuality": "correct"}, "4": {"citation": "missing"}}},
        format="json",
    )

    response = client.put(
        _url(task), {"version": 2, "turns": {"4": {"citation": "correct"}}}, format="json"
    )

    assert response.status_code == 200
    assert _state(task)[3] == {4: {"citation": "correct"}}


def test_multiple_choice_answers_keep_the_schema_order_without_repeats(api, annotator, task):
    response = api(annotator).put(
        _url(task),
        {"version": 1, "turns": {"2": {"observed_behavior": ["refused", "answered", "refused"]}}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["turns"]["2"]["observed_behavior"] == ["answered", "refused"]


def test_empty_answers_count_as_unanswered(api, annotator, task):
    response = api(annotator).put(
        _url(task),
        {
            "version": 1,
            "turns": {"2": {"factuality": None, "rationale": "", "hallucination_type": []}},
            "conversation": {"notes": ""},
        },
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["turns"], response.json()["conversation"]) == ({}, {})


def test_submitting_complete_answers_submits_the_annotation_and_the_task(api, annotator, task):
    response = api(annotator).put(
        _url(task), {"version": 1, "turns": COMPLETE, "submit": True}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"]) == ("submitted", 2)
    assert body["submitted_at"] is not None
    assert _state(task) == ("submitted", 2, {}, {2: REQUIRED, 4: REQUIRED}, "submitted")


def test_submit_with_required_answers_missing_lists_them_and_submits_nothing(api, annotator, task):
    client = api(annotator)
    client.put(_url(task), {"version": 1, "conversation": {"notes": "draft"}}, format="json")

    response = client.put(
        _url(task),
        {"version": 2, "turns": {"2": REQUIRED, "4": {"factuality": "correct"}}, "submit": True},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["missing"] == ["turns.4.observed_behavior", "turns.4.expected_behavior"]
    assert "2 required answers are missing" in body["detail"]
    assert _state(task) == ("draft", 2, {"notes": "draft"}, {}, "in_progress")


def test_submitted_annotation_cannot_be_changed(api, annotator, task):
    client = api(annotator)
    client.put(_url(task), {"version": 1, "turns": COMPLETE, "submit": True}, format="json")

    response = client.put(
        _url(task), {"version": 2, "turns": {"2": {"factuality": "fabricated"}}}, format="json"
    )

    assert response.status_code == 409
    assert "already submitted" in response.json()["detail"]
    assert _state(task) == ("submitted", 2, {}, {2: REQUIRED, 4: REQUIRED}, "submitted")


def test_stale_version_gets_409_with_the_current_version_and_saves_nothing(api, annotator, task):
    client = api(annotator)
    client.put(_url(task), {"version": 1, "conversation": {"notes": "tab A"}}, format="json")

    response = client.put(
        _url(task), {"version": 1, "conversation": {"notes": "tab B"}}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["version"] == 2
    assert response.json()["code"] == "stale_version"
    assert _state(task) == ("draft", 2, {"notes": "tab A"}, {}, "in_progress")


def test_saving_after_the_lease_was_released_gets_409_and_saves_nothing(api, annotator, task):
    queue.release_expired_leases(now=timezone.now() + timedelta(days=1))

    response = api(annotator).put(
        _url(task), {"version": 1, "conversation": {"notes": "late"}}, format="json"
    )

    assert response.status_code == 409
    assert "no longer yours" in response.json()["detail"]
    assert Annotation.objects.get(task=task).answers == {}


# --- Invalid answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("turns", "answers", "path", "problem"),
    [
        pytest.param(
            {"2": {"factuality": "maybe"}},
            {},
            "turns.2.factuality",
            '"maybe" is not an option (expected one of correct,',
            id="single-unknown-option",
        ),
        pytest.param(
            {"2": {"factuality": ["correct"]}},
            {},
            "turns.2.factuality",
            "a list is not an option",
            id="single-given-a-list",
        ),
        pytest.param(
            {"2": {"observed_behavior": ["answered", "sang"]}},
            {},
            "turns.2.observed_behavior",
            '"sang" is not an option (expected some of answered,',
            id="multi-unknown-value",
        ),
        pytest.param(
            {"2": {"observed_behavior": "answered"}},
            {},
            "turns.2.observed_behavior",
            'expected a list of options, got "answered"',
            id="multi-not-a-list",
        ),
        pytest.param(
            {},
            {"overall": 6},
            "conversation.overall",
            "6 is out of range (1 to 5)",
            id="rating-above-range",
        ),
        pytest.param(
            {},
            {"overall": 0},
            "conversation.overall",
            "0 is out of range (1 to 5)",
            id="rating-below-range",
        ),
        pytest.param(
            {},
            {"overall": 3.5},
            "conversation.overall",
            "expected a whole number from 1 to 5, got 3.5",
            id="rating-fraction",
        ),
        pytest.param(
            {},
            {"overall": "4"},
            "conversation.overall",
            'expected a whole number from 1 to 5, got "4"',
            id="rating-string",
        ),
        pytest.param(
            {},
            {"overall": True},
            "conversation.overall",
            "expected a whole number from 1 to 5, got true",
            id="rating-boolean",
        ),
        pytest.param(
            {},
            {"notes": 5},
            "conversation.notes",
            "expected text, got 5",
            id="text-number",
        ),
        pytest.param(
            {"2": {"corrected_response": {"text": "hi"}}},
            {},
            "turns.2.corrected_response",
            "expected text, got an object",
            id="rewrite-object",
        ),
        pytest.param(
            {},
            {"notes": "x" * 50_001},
            "conversation.notes",
            "text is too long (50001 characters, at most 50000)",
            id="text-too-long",
        ),
        pytest.param(
            {"2": {"tone": "friendly"}},
            {},
            "turns.2.tone",
            'unknown question "tone"',
            id="unknown-turn-question",
        ),
        pytest.param(
            {},
            {"mood": "good"},
            "conversation.mood",
            'unknown question "mood"',
            id="unknown-conversation-question",
        ),
        pytest.param(
            {"1": {"factuality": "correct"}},
            {},
            "turns.1.factuality",
            "this question is not asked about user turns (only assistant)",
            id="assistant-question-on-user-turn",
        ),
        pytest.param(
            {"0": {"prompt_traits": ["leading"]}},
            {},
            "turns.0.prompt_traits",
            "this question is not asked about system turns (only user)",
            id="user-question-on-system-turn",
        ),
        pytest.param(
            {"2": {"overall": 4}},
            {},
            "turns.2.overall",
            "this question is about the whole conversation, not a turn",
            id="conversation-question-under-turns",
        ),
        pytest.param(
            {},
            {"factuality": "correct"},
            "conversation.factuality",
            "this question is about a turn; answer it under turns.<index>",
            id="turn-question-under-conversation",
        ),
        pytest.param(
            {"9": {"factuality": "correct"}},
            {},
            "turns.9",
            "this conversation has no turn 9",
            id="turn-index-out-of-range",
        ),
        pytest.param(
            {"two": {"factuality": "correct"}},
            {},
            "turns.two",
            '"two" is not a turn index',
            id="turn-index-not-a-number",
        ),
    ],
)
def test_invalid_answer_gets_400_naming_the_question_and_saves_nothing(
    api, annotator, task, turns, answers, path, problem
):
    response = api(annotator).put(
        _url(task),
        {"version": 1, "turns": turns, "conversation": answers},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "1 answer is not valid; nothing was saved."
    assert list(body["errors"]) == [path]
    assert problem in body["errors"][path]
    assert _state(task) == UNTOUCHED


def test_turn_index_with_a_leading_zero_gets_400(api, annotator, task):
    response = api(annotator).put(
        _url(task),
        {
            "version": 1,
            "turns": {"2": {"factuality": "correct"}, "02": {"factuality": "fabricated"}},
        },
        format="json",
    )

    assert response.status_code == 400
    assert '"02" is not a turn index' in response.json()["errors"]["turns.02"]
    assert _state(task) == UNTOUCHED


def test_every_invalid_answer_is_reported_at_once_and_valid_ones_are_not_saved(
    api, annotator, task
):
    response = api(annotator).put(
        _url(task),
        {
            "version": 1,
            "turns": {"2": {"factuality": "maybe", "citation": "correct"}},
            "conversation": {"overall": 9, "notes": "fine"},
            "submit": True,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "2 answers are not valid; nothing was saved."
    assert set(response.json()["errors"]) == {"turns.2.factuality", "conversation.overall"}
    assert _state(task) == UNTOUCHED


@pytest.fixture
def boolean_task(project, annotator, conversation):
    """A task whose schema (version 2) adds yes/no questions."""
    extra = [
        {"key": "safe", "prompt": "Safe?", "scope": "conversation", "kind": "boolean"},
        {
            "key": "on_topic",
            "prompt": "On topic?",
            "scope": "turn",
            "roles": ["assistant"],
            "kind": "boolean",
        },
    ]
    project_services.create_schema(project=project, questions=DEFAULT_QUESTIONS + extra, version=2)
    return claimed_task(project, annotator, conversation)


def test_yes_no_answers_accept_true_and_false(api, annotator, boolean_task):
    response = api(annotator).put(
        _url(boolean_task),
        {"version": 1, "turns": {"2": {"on_topic": False}}, "conversation": {"safe": True}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["turns"] == {"2": {"on_topic": False}}
    assert response.json()["conversation"] == {"safe": True}


@pytest.mark.parametrize(
    ("turns", "answers", "path", "problem"),
    [
        ({}, {"safe": "yes"}, "conversation.safe", 'expected true or false, got "yes"'),
        ({}, {"safe": 1}, "conversation.safe", "expected true or false, got 1"),
        ({"2": {"on_topic": "false"}}, {}, "turns.2.on_topic", 'got "false"'),
    ],
)
def test_yes_no_answer_that_is_not_a_boolean_gets_400(
    api, annotator, boolean_task, turns, answers, path, problem
):
    response = api(annotator).put(
        _url(boolean_task),
        {"version": 1, "turns": turns, "conversation": answers},
        format="json",
    )

    assert response.status_code == 400
    assert problem in response.json()["errors"][path]
    assert _state(boolean_task) == UNTOUCHED


# --- Invalid request shape ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"turns": {}}, "version"),
        ({"version": "latest"}, "version"),
        ({"version": 0}, "version"),
        ({"version": 1, "turns": ["2"]}, "turns"),
        ({"version": 1, "turns": {"2": "correct"}}, "turns"),
        ({"version": 1, "conversation": "fine"}, "conversation"),
        ({"version": 1, "submit": "perhaps"}, "submit"),
    ],
)
def test_malformed_request_gets_400_naming_the_field_and_saves_nothing(
    api, annotator, task, payload, field
):
    response = api(annotator).put(_url(task), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert _state(task) == UNTOUCHED


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["outsider", "owner", "reviewer"])
def test_anyone_but_the_assignee_gets_404_on_a_task_and_nothing_changes(
    api, task, persona, request
):
    client = api(request.getfixturevalue(persona))

    response = client.put(
        _url(task), {"version": 1, "conversation": {"notes": "mine"}}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "No such task."
    assert client.get(_url(task)).status_code == 404
    assert _state(task) == UNTOUCHED


def test_unknown_task_gets_404(api, annotator, task):
    response = api(annotator).put(
        f"/api/v1/tasks/{task.id + 1000}/annotation/", {"version": 1}, format="json"
    )

    assert response.status_code == 404


def test_unauthenticated_put_gets_401_and_saves_nothing(task):
    response = APIClient().put(
        _url(task), {"version": 1, "conversation": {"notes": "anon"}}, format="json"
    )

    assert response.status_code == 401
    assert _state(task) == UNTOUCHED


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_other_methods_get_405_and_change_nothing(api, annotator, task, method):
    response = getattr(api(annotator), method)(
        _url(task), {"version": 1, "conversation": {"notes": "x"}}, format="json"
    )

    assert response.status_code == 405
    assert _state(task) == UNTOUCHED
