"""Evidence answers: passages of the conversation's sources, each with a verdict."""

import pytest

from annotation import services
from annotation.exceptions import InvalidAnswers
from annotation.models import Annotation
from projects import services as project_services
from tests.factories import ConversationFactory, claimed_task

pytestmark = pytest.mark.django_db

SOURCES = [
    {"id": "kb-7", "title": "Refund policy", "text": "Refunds are possible within 30 days."},
    {"id": "kb-9", "title": "Shipping", "text": "Orders ship in 2 days."},
]
EVIDENCE = {
    "key": "evidence",
    "prompt": "Which passages back the reply?",
    "kind": "evidence",
    "roles": ["assistant"],
}


@pytest.fixture
def task(project, owner, annotator):
    project_services.save_schema(project=project, actor=owner, questions=[EVIDENCE])
    conversation = ConversationFactory(project=project, metadata={"sources": SOURCES})
    return claimed_task(project, annotator, conversation)


def save(task, user, value):
    return services.save_annotation(
        task=task, user=user, version=1, turns={"2": {"evidence": value}}, conversation={}
    )


def test_passages_are_stored_with_the_quote_taken_from_the_source(task, annotator):
    annotation = save(
        task,
        annotator,
        [
            {"source": "kb-7", "start": 0, "end": 7, "verdict": "supported"},
            {"source": "kb-9", "start": 15, "end": 21, "verdict": "contradicted", "quote": "lies"},
        ],
    )
    assert services.annotation_answers(Annotation.objects.get(pk=annotation.pk))["turns"] == {
        "2": {
            "evidence": [
                {
                    "source": "kb-7",
                    "start": 0,
                    "end": 7,
                    "verdict": "supported",
                    "quote": "Refunds",
                },
                {
                    "source": "kb-9",
                    "start": 15,
                    "end": 21,
                    "verdict": "contradicted",
                    "quote": "2 days",
                },
            ]
        }
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("kb-7", 'expected a list of {"source", "start", "end", "verdict"}'),
        (
            [{"source": "kb-1", "start": 0, "end": 3, "verdict": "supported"}],
            'unknown source "kb-1"',
        ),
        (
            [{"source": "kb-7", "start": 5, "end": 500, "verdict": "supported"}],
            "outside the source",
        ),
        ([{"source": "kb-7", "start": 9, "end": 3, "verdict": "supported"}], "outside the source"),
        (
            [{"source": "kb-7", "start": "0", "end": 3, "verdict": "supported"}],
            "character positions",
        ),
        (
            [{"source": "kb-7", "start": 0, "end": 3, "verdict": "maybe"}],
            '"maybe" is not a verdict',
        ),
        (["kb-7"], "passage 1: expected"),
    ],
)
def test_bad_passages_are_named_and_nothing_is_saved(task, annotator, value, message):
    with pytest.raises(InvalidAnswers) as caught:
        save(task, annotator, value)
    assert message in caught.value.errors["turns.2.evidence"]
    assert Annotation.objects.get(task=task).version == 1


def test_a_conversation_without_sources_cannot_have_evidence(project, owner, annotator):
    project_services.save_schema(project=project, actor=owner, questions=[EVIDENCE])
    task = claimed_task(project, annotator)
    with pytest.raises(InvalidAnswers) as caught:
        save(task, annotator, [{"source": "kb-7", "start": 0, "end": 3, "verdict": "supported"}])
    assert "no source documents" in caught.value.errors["turns.2.evidence"]


def test_a_source_without_text_cannot_be_cited(project, owner, annotator):
    # The workspace shows such a source empty; checking must measure the same empty text.
    project_services.save_schema(project=project, actor=owner, questions=[EVIDENCE])
    sources = [{"id": "kb-3", "text": ["not", "a string"]}]
    task = claimed_task(
        project, annotator, ConversationFactory(project=project, metadata={"sources": sources})
    )
    with pytest.raises(InvalidAnswers) as caught:
        save(task, annotator, [{"source": "kb-3", "start": 0, "end": 1, "verdict": "supported"}])
    assert "0-1 is outside the source (0-0)" in caught.value.errors["turns.2.evidence"]
    assert Annotation.objects.get(task=task).version == 1
