import threading
from collections import Counter

import pytest
from django.db import connection

from annotation import queue, services
from annotation.models import Task
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import requires_postgres

THREADS = 8


def _claim_until_empty(project, user, claimed: list, errors: list, start: threading.Barrier):
    try:
        start.wait()
        while True:
            task = queue.claim_next_task(project=project, user=user)
            if task is None:
                return
            claimed.append((task.pk, task.conversation_id, user.pk))
            services.save_annotation(
                task=task, user=user, version=1, turns={}, conversation={}, submit=False
            )
            Task.objects.filter(pk=task.pk).update(status=Task.Status.SUBMITTED)
    except Exception as exc:  # surfaced by the assertion below
        errors.append(exc)
    finally:
        connection.close()


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [1, 2])
def test_concurrent_claimers_fill_every_slot_exactly_once(overlap):
    project = ProjectFactory(overlap=overlap)
    users = UserFactory.create_batch(THREADS)
    for user in users:
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    conversations = ConversationFactory.create_batch(40, project=project, turns=3)

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
        thread.join(timeout=120)

    assert errors == []
    task_ids = [task_id for task_id, _, _ in claimed]
    assert len(task_ids) == len(set(task_ids)), "a task was claimed twice"
    pairs = [(conversation_id, user_id) for _, conversation_id, user_id in claimed]
    assert len(pairs) == len(set(pairs)), "an annotator got the same conversation twice"
    per_conversation = Counter(conversation_id for conversation_id, _ in pairs)
    assert per_conversation == {c.pk: overlap for c in conversations}
