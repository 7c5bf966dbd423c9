"""Turns kept per process (annotation.turns) and saved answers read with the task."""

import pytest

from annotation import queue, services
from annotation import turns as turn_cache
from annotation.models import Turn
from tests.factories import ConversationFactory, claimed_task

pytestmark = pytest.mark.django_db


def test_a_conversations_turns_are_read_once_then_kept(conversation, django_assert_num_queries):
    first = turn_cache.conversation_turns(conversation)
    assert [t.index for t in first] == list(range(conversation.turns.count()))
    with django_assert_num_queries(0):
        again = turn_cache.conversation_turns(conversation)
    assert again is first


def test_a_turn_edited_in_the_admin_is_read_afresh(conversation):
    kept = turn_cache.conversation_turns(conversation)
    turn = Turn.objects.get(pk=kept[1].pk)
    turn.text = "Redacted by a lead."
    turn.save()  # what the admin does
    assert turn_cache.conversation_turns(conversation)[1].text == "Redacted by a lead."


def test_only_the_last_conversations_used_are_kept(project, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(turn_cache._local, "size", 2)
    first, second, third = (ConversationFactory(project=project) for _ in range(3))
    for conversation in (first, second, third):
        turn_cache.conversation_turns(conversation)
    with django_assert_num_queries(0):
        turn_cache.conversation_turns(third)
        turn_cache.conversation_turns(second)
    with django_assert_num_queries(1):
        turn_cache.conversation_turns(first)  # the oldest was let go


def test_kept_turns_expire(conversation, monkeypatch, django_assert_num_queries):
    turn_cache.conversation_turns(conversation)
    monkeypatch.setattr(turn_cache._local, "ttl", -1)
    turn_cache._local.clear()
    turn_cache.conversation_turns(conversation)  # kept already expired
    with django_assert_num_queries(1):
        turn_cache.conversation_turns(conversation)


def test_the_page_reads_saved_answers_with_the_task(project, annotator, django_assert_num_queries):
    conversation = ConversationFactory(project=project, turns=6)
    task = claimed_task(project, annotator, conversation)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "fabricated"}},
        conversation={},
    )
    turn_cache.conversation_turns(conversation)
    with django_assert_num_queries(1):  # the task and its answers, nothing more
        resumed = queue.resume_task(user=annotator, slug=project.slug)
        turns = services.workspace_turns(resumed)
        answers = services.annotation_answers(resumed.annotation)
    assert answers["turns"] == {"2": {"factuality": "fabricated"}}
    assert [t.index for t in turns] == list(range(len(turns)))
    saved = resumed.annotation.saved_answers
    assert [answers for _, answers in saved.values()] == [{"factuality": "fabricated"}]
