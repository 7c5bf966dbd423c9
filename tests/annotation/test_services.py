from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import queue, services
from annotation.exceptions import Conflict, InvalidAnswers, MissingRequired, NotFound, StaleVersion
from annotation.models import Annotation, Task, TurnAnswer
from projects import services as project_services
from tests.factories import ConversationFactory, ProjectFactory, claimed_task

pytestmark = pytest.mark.django_db

COMPLETE = {
    "2": {
        "observed_behavior": ["answered"],
        "expected_behavior": "answer",
        "factuality": "correct",
    },
    "4": {
        "observed_behavior": ["refused"],
        "expected_behavior": "ask_clarification",
        "factuality": "not_applicable",
    },
}


# --- claiming ---


def test_claim_gives_an_open_task_with_a_lease_and_a_draft(project, annotator, conversation):
    now = timezone.now()
    task = queue.claim_next_task(project=project, user=annotator, now=now)
    assert task.conversation == conversation
    assert task.status == Task.Status.IN_PROGRESS and task.assignee == annotator
    assert task.lease_expires_at == now + timedelta(minutes=project.lease_minutes)
    annotation = Annotation.objects.get(task=task)
    assert (annotation.status, annotation.version, annotation.annotator) == ("draft", 1, annotator)


def test_claiming_again_resumes_the_current_task_and_extends_its_lease(project, annotator):
    ConversationFactory.create_batch(2, project=project)
    first = queue.claim_next_task(project=project, user=annotator)
    later = timezone.now() + timedelta(minutes=5)
    again = queue.claim_next_task(project=project, user=annotator, now=later)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.lease_expires_at == later + timedelta(minutes=project.lease_minutes)
    assert Task.objects.filter(assignee=annotator).count() == 1


def test_resuming_within_a_minute_of_the_last_renewal_writes_nothing(
    project, annotator, django_assert_num_queries
):
    ConversationFactory.create_batch(2, project=project)
    now = timezone.now()
    first = queue.claim_next_task(project=project, user=annotator, now=now)
    soon = now + queue.LEASE_RENEWAL / 2
    with django_assert_num_queries(1):  # the task and what the page shows; no UPDATE
        again = queue.resume_task(user=annotator, slug=project.slug, now=soon)
    assert again.pk == first.pk and again.annotation.version == 1
    first.refresh_from_db()
    assert first.lease_expires_at == now + timedelta(minutes=project.lease_minutes)


def test_resume_gives_nothing_to_someone_no_longer_a_member(project, annotator):
    ConversationFactory(project=project)
    task = queue.claim_next_task(project=project, user=annotator)
    project.memberships.filter(user=annotator).delete()
    assert queue.resume_task(user=annotator, slug=project.slug) is None
    assert Task.objects.get(pk=task.pk).status == Task.Status.IN_PROGRESS


def test_resume_gives_nothing_once_the_task_was_released_meanwhile(project, annotator):
    ConversationFactory(project=project)
    now = timezone.now()
    task = queue.claim_next_task(project=project, user=annotator, now=now)
    # Released between reading the task and renewing its lease: nothing to resume.
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RELEASED)
    task.refresh_from_db()
    task.status = Task.Status.IN_PROGRESS
    assert queue.renew_lease(task, project, now + timedelta(minutes=10)) is False
    assert queue.resume_task(user=annotator, slug=project.slug) is None


def test_nobody_gets_the_same_conversation_twice(project, annotator, owner):
    project_services.update_project(project=project, actor=owner, overlap=2)
    first, second = ConversationFactory.create_batch(2, project=project)
    got = []
    for _ in range(3):
        task = queue.claim_next_task(project=project, user=annotator)
        if task is None:
            break
        got.append(task.conversation_id)
        services.save_annotation(
            task=task, user=annotator, version=1, turns=COMPLETE, conversation={}, submit=True
        )
    assert sorted(got) == sorted([first.pk, second.pk])


def test_overlap_slots_go_to_different_annotators(owner, annotator, reviewer):
    project = ProjectFactory(created_by=owner, overlap=2)
    for user in (annotator, reviewer):
        project_services.set_membership(
            project=project, actor=owner, username=user.username, role="annotator"
        )
    conversation = ConversationFactory(project=project)
    a = queue.claim_next_task(project=project, user=annotator)
    b = queue.claim_next_task(project=project, user=reviewer)
    c = queue.claim_next_task(project=project, user=owner)
    assert a.conversation == b.conversation == conversation and a.pk != b.pk
    assert c is None


def test_claim_returns_none_when_nothing_is_open(project, annotator):
    assert queue.claim_next_task(project=project, user=annotator) is None


def test_higher_priority_tasks_are_claimed_first(project, annotator):
    _low, high = ConversationFactory.create_batch(2, project=project)
    Task.objects.filter(conversation=high).update(priority=5)
    assert queue.claim_next_task(project=project, user=annotator).conversation == high


def test_outsiders_cannot_claim(project, outsider, conversation):
    with pytest.raises(NotFound):
        queue.claim_next_task(project=project, user=outsider)
    assert not Task.objects.filter(assignee=outsider).exists()


# --- saving ---


def test_save_writes_answers_and_bumps_the_version(project, annotator):
    task = claimed_task(project, annotator)
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "fabricated", "hallucination_type": ["invented_policy"]}},
        conversation={"overall": 2},
    )
    assert annotation.version == 2 and annotation.status == "draft"
    assert services.annotation_answers(annotation) == {
        "turns": {"2": {"factuality": "fabricated", "hallucination_type": ["invented_policy"]}},
        "conversation": {"overall": 2},
    }


def test_save_replaces_the_whole_set_of_answers(project, annotator):
    task = claimed_task(project, annotator, ConversationFactory(project=project, turns=8))
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}, "4": {"factuality": "correct"}},
        conversation={},
    )
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=2,
        turns={"4": {"factuality": "fabricated"}, "6": {"factuality": "correct"}},
        conversation={},
    )
    # Turn 2 cleared, turn 4 changed, turn 6 added: against the answers read under the lock.
    expected = {"4": {"factuality": "fabricated"}, "6": {"factuality": "correct"}}
    assert services.annotation_answers(annotation)["turns"] == expected
    stored = annotation.turn_answers.values_list("turn__index", "answers")
    assert {str(index): answers for index, answers in stored} == expected
    assert "saved_answers" not in annotation.__dict__  # what was read is no longer saved
    assert TurnAnswer.objects.filter(annotation=annotation).count() == 2


def test_empty_answers_are_dropped(project, annotator):
    task = claimed_task(project, annotator)
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": None, "observed_behavior": [], "rationale": ""}},
        conversation={"notes": ""},
    )
    assert services.annotation_answers(annotation) == {"turns": {}, "conversation": {}}


def test_a_stale_version_is_refused_and_changes_nothing(project, annotator):
    task = claimed_task(project, annotator)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}},
        conversation={},
    )
    with pytest.raises(StaleVersion) as caught:
        services.save_annotation(
            task=task,
            user=annotator,
            version=1,
            turns={"2": {"factuality": "fabricated"}},
            conversation={},
        )
    assert caught.value.current_version == 2
    annotation = Annotation.objects.get(task=task)
    assert services.annotation_answers(annotation)["turns"] == {"2": {"factuality": "correct"}}


def test_invalid_answers_name_every_problem_and_save_nothing(project, annotator):
    task = claimed_task(project, annotator)
    with pytest.raises(InvalidAnswers) as caught:
        services.save_annotation(
            task=task,
            user=annotator,
            version=1,
            turns={"2": {"factuality": "maybe", "prompt_traits": ["ambiguous"]}, "9": {}},
            conversation={"overall": 9, "colour": "blue"},
        )
    errors = caught.value.errors
    assert set(errors) == {
        "turns.2.factuality",
        "turns.2.prompt_traits",
        "turns.9",
        "conversation.overall",
        "conversation.colour",
    }
    assert '"maybe" is not an option' in errors["turns.2.factuality"]
    assert "not asked about assistant turns" in errors["turns.2.prompt_traits"]
    assert "out of range" in errors["conversation.overall"]
    assert Annotation.objects.get(task=task).version == 1


def test_someone_elses_task_is_not_found(project, annotator, reviewer):
    task = claimed_task(project, annotator)
    with pytest.raises(NotFound):
        services.save_annotation(task=task, user=reviewer, version=1, turns={}, conversation={})
    with pytest.raises(NotFound):
        services.get_task_for_annotator(task_id=task.pk, user=reviewer)


def test_saving_extends_the_lease(project, annotator):
    task = claimed_task(project, annotator)
    later = timezone.now() + timedelta(minutes=30)
    services.save_annotation(
        task=task, user=annotator, version=1, turns={}, conversation={}, now=later
    )
    task.refresh_from_db()
    assert task.lease_expires_at == later + timedelta(minutes=project.lease_minutes)


# --- submitting ---


def test_submit_with_missing_required_answers_lists_them_and_submits_nothing(project, annotator):
    task = claimed_task(project, annotator)
    with pytest.raises(MissingRequired) as caught:
        services.save_annotation(
            task=task,
            user=annotator,
            version=1,
            turns={"2": COMPLETE["2"], "4": {"factuality": "correct"}},
            conversation={},
            submit=True,
        )
    assert caught.value.missing == ["turns.4.observed_behavior", "turns.4.expected_behavior"]
    annotation = Annotation.objects.get(task=task)
    assert (annotation.status, annotation.version) == ("draft", 1)
    assert not TurnAnswer.objects.filter(annotation=annotation).exists()
    assert Task.objects.get(pk=task.pk).status == Task.Status.IN_PROGRESS


def test_submit_completes_the_task_and_freezes_the_annotation(project, annotator):
    task = claimed_task(project, annotator)
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns=COMPLETE,
        conversation={"overall": 4},
        submit=True,
    )
    assert annotation.status == "submitted" and annotation.submitted_at is not None
    task.refresh_from_db()
    assert task.status == Task.Status.SUBMITTED and task.completed_at is not None
    with pytest.raises(Conflict, match="already submitted"):
        services.save_annotation(task=task, user=annotator, version=2, turns={}, conversation={})


# --- leases ---


def test_expired_leases_return_to_the_pool_and_keep_the_draft(project, annotator, reviewer):
    task = claimed_task(project, annotator)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}},
        conversation={},
    )
    later = timezone.now() + timedelta(minutes=project.lease_minutes + 1)
    assert queue.release_expired_leases(now=later) == 1
    assert queue.release_expired_leases(now=later) == 0
    task.refresh_from_db()
    assert task.status == Task.Status.EXPIRED and task.assignee == annotator
    assert Annotation.objects.get(task=task).turn_answers.count() == 1
    replacement = Task.objects.get(conversation=task.conversation, status=Task.Status.OPEN)
    assert replacement.assignee is None
    claimed = queue.claim_next_task(project=project, user=reviewer, now=later)
    assert claimed.pk == replacement.pk
    assert not Annotation.objects.get(task=claimed).turn_answers.exists()


def test_a_save_after_the_lease_was_released_is_refused(project, annotator):
    task = claimed_task(project, annotator)
    queue.release_expired_leases(now=timezone.now() + timedelta(days=1))
    with pytest.raises(Conflict, match="no longer yours"):
        services.save_annotation(task=task, user=annotator, version=1, turns={}, conversation={})


def test_active_leases_are_left_alone(project, annotator):
    task = claimed_task(project, annotator)
    assert queue.release_expired_leases() == 0
    assert Task.objects.get(pk=task.pk).status == Task.Status.IN_PROGRESS


def test_saving_again_within_a_minute_leaves_the_lease_alone(project, annotator):
    task = claimed_task(project, annotator)
    task.refresh_from_db()
    lease = task.lease_expires_at
    soon = timezone.now() + queue.LEASE_RENEWAL / 2
    services.save_annotation(
        task=task, user=annotator, version=1, turns={}, conversation={}, now=soon
    )
    task.refresh_from_db()
    assert task.lease_expires_at == lease


def test_a_save_reads_the_version_under_its_lock_not_from_the_task_it_was_given(project, annotator):
    task = claimed_task(project, annotator)
    loaded = services.get_task_for_annotator(task_id=task.pk, user=annotator)
    # Another tab saves after this request loaded the task, before it takes the lock.
    services.save_annotation(task=task, user=annotator, version=1, turns={}, conversation={})
    with pytest.raises(StaleVersion):
        services.save_annotation(
            task=loaded, user=annotator, version=1, turns={}, conversation={"overall": 3}
        )
    assert Annotation.objects.get(task=task).version == 2


def test_a_one_minute_lease_is_renewed_by_work_within_it(project, annotator):
    project.lease_minutes = 1
    project.save(update_fields=["lease_minutes"])
    ConversationFactory(project=project)
    now = timezone.now()
    task = queue.claim_next_task(project=project, user=annotator, now=now)
    later = now + timedelta(seconds=20)
    services.save_annotation(
        task=task, user=annotator, version=1, turns={}, conversation={}, now=later
    )
    task.refresh_from_db()
    assert task.lease_expires_at == later + timedelta(minutes=1)


def test_the_position_counts_are_plain_integers(project, annotator):
    ConversationFactory.create_batch(3, project=project)
    queue.claim_next_task(project=project, user=annotator)
    position = queue.position(project, annotator)
    assert position == {"done": 0, "waiting": 2}
    assert all(type(value) is int for value in position.values())


def test_the_page_reads_the_position_with_the_task(
    project, annotator, owner, django_assert_num_queries
):
    ConversationFactory.create_batch(6, project=project)
    first = queue.claim_next_task(project=project, user=annotator)
    services.save_annotation(task=first, user=annotator, version=1, turns={}, conversation={})
    Task.objects.filter(pk=first.pk).update(status=Task.Status.SUBMITTED)  # done: 1
    assigned = Task.objects.filter(status=Task.Status.OPEN).first()
    queue.count_moves(project.pk, {Task.Status.OPEN: -1, Task.Status.ASSIGNED: 1})
    Task.objects.filter(pk=assigned.pk).update(status=Task.Status.ASSIGNED, assignee=annotator)
    queue.claim_next_task(project=project, user=annotator)
    with django_assert_num_queries(1):
        resumed = queue.resume_task(user=annotator, slug=project.slug, with_position=True)
    assert resumed.position == queue.position(project, annotator)
    assert all(type(value) is int for value in resumed.position.values())
    assert resumed.position["done"] == 1 and resumed.position["waiting"] >= 1
    assert not hasattr(queue.resume_task(user=annotator, slug=project.slug), "position")


def test_an_answer_whose_row_was_deleted_meanwhile_is_written_anew(project, annotator, monkeypatch):
    # A lead deleted the row in the admin (which takes no lock) between the save's read and
    # its write: the annotator's change to that turn must not vanish behind a "Saved".
    task = claimed_task(project, annotator)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        turns={"2": {"factuality": "correct"}},
        conversation={},
    )
    lock_task = services._lock_task

    def read_then_row_deleted(task_id, user):
        locked = lock_task(task_id, user)
        TurnAnswer.objects.filter(annotation__task_id=task_id).delete()
        return locked

    monkeypatch.setattr(services, "_lock_task", read_then_row_deleted)
    annotation = services.save_annotation(
        task=task,
        user=annotator,
        version=2,
        turns={"2": {"factuality": "fabricated"}},
        conversation={},
    )
    assert annotation.version == 3
    stored = TurnAnswer.objects.get(annotation=annotation)
    assert (stored.turn.index, stored.answers) == (2, {"factuality": "fabricated"})
