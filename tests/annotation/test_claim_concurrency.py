"""Claims under real concurrency, on PostgreSQL: every thread has its own connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from annotation import queue, services
from annotation.models import Task
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import requires_postgres

THREADS = 32
CONVERSATIONS = 60


def _claim_until_empty(project, user, claimed: list, errors: list, start: threading.Barrier):
    try:
        start.wait()
        while True:
            task = queue.claim_next_task(project=project, user=user)
            if task is None:
                return
            claimed.append((task.pk, task.conversation_id, user.pk))
            services.save_annotation(
                task=task, user=user, version=1, turns={}, conversation={}, submit=True
            )
    except Exception as exc:  # surfaced by the assertion below
        errors.append(exc)
    finally:
        connection.close()


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [1, 3])
def test_32_concurrent_claimers_fill_every_slot_exactly_once(overlap):
    project = ProjectFactory(overlap=overlap)
    users = UserFactory.create_batch(THREADS)
    for user in users:
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    conversations = ConversationFactory.create_batch(CONVERSATIONS, project=project, turns=2)

    claimed: list = []
    errors: list = []
    start = threading.Barrier(THREADS)
    threads = [
        threading.Thread(target=_claim_until_empty, args=(project, u, claimed, errors, start))
        for u in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert errors == []
    task_ids = [task_id for task_id, _, _ in claimed]
    assert len(task_ids) == len(set(task_ids)), "a task was claimed twice"
    pairs = [(conversation_id, user_id) for _, conversation_id, user_id in claimed]
    assert len(pairs) == len(set(pairs)), "an annotator got the same conversation twice"
    per_conversation = Counter(conversation_id for conversation_id, _ in pairs)
    assert per_conversation == {c.pk: overlap for c in conversations}
    assert Task.objects.filter(project=project, status="submitted").count() == len(claimed)
    counts = queue.task_counts(project)
    assert (counts["submitted"], counts["open"], counts["in_progress"]) == (len(claimed), 0, 0)


@requires_postgres
@pytest.mark.django_db
def test_the_claim_query_walks_the_open_task_index(owner, annotator):
    project = ProjectFactory(created_by=owner, overlap=2)
    MembershipFactory(project=project, user=annotator)
    ConversationFactory.create_batch(300, project=project, turns=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_task")
    plan = queue.claim_query(project, annotator).explain()
    assert "task_pool" in plan, plan
