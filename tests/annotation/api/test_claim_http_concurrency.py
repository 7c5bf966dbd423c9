"""Many annotators claiming and submitting over HTTP at once, against a real server.

The live server is threaded (one thread, and one database connection, per request), so
claims from different annotators really run side by side in PostgreSQL.
"""

import json
import threading
import urllib.error
import urllib.request
from collections import Counter, defaultdict

import pytest

from accounts import services as account_services
from annotation import queue
from annotation.models import Annotation, Task
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import requires_postgres

CONVERSATIONS = 60
OVERLAP = 3
ANNOTATORS = 12
REQUIRED = {
    "observed_behavior": ["answered"],
    "expected_behavior": "answer",
    "factuality": "correct",
}


def _call(base: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


class Tracker:
    """Records what every thread did, and how many requests were in flight at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.claims: list[tuple[int, str, str]] = []  # (task id, conversation, username)
        self.errors: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def request(self, *args):
        self.enter()
        try:
            return _call(*args)
        finally:
            self.leave()


def _label_until_done(base, slug, username, token, tracker: Tracker, start: threading.Barrier):
    try:
        start.wait()
        for _ in range(CONVERSATIONS + 1):
            status, task = tracker.request(
                base, token, "POST", f"/api/v1/projects/{slug}/tasks/next/"
            )
            if status == 204:
                return
            with tracker.lock:
                tracker.claims.append((task["id"], task["conversation"]["id"], username))
            turns = {
                str(turn["index"]): REQUIRED
                for turn in task["conversation"]["turns"]
                if turn["role"] == "assistant"
            }
            status, _ = tracker.request(
                base,
                token,
                "PUT",
                f"/api/v1/tasks/{task['id']}/annotation/",
                {"version": task["annotation"]["version"], "turns": turns, "submit": True},
            )
            if status != 200:
                raise AssertionError(f"submit answered {status}")
        raise AssertionError(f"{username} never ran out of tasks")
    except urllib.error.HTTPError as exc:
        tracker.errors.append(f"{username}: HTTP {exc.code} {exc.read()[:300]!r}")
    except Exception as exc:  # surfaced by the assertion in the test
        tracker.errors.append(f"{username}: {exc!r}")


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_annotators_claiming_over_http_at_once_fill_every_slot_exactly_once(
    live_server, monkeypatch
):
    project = ProjectFactory(slug="rush", overlap=OVERLAP)
    users = [UserFactory(username=f"annotator{i:02}") for i in range(ANNOTATORS)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    tokens = {user.username: account_services.create_api_token(user=user) for user in users}
    conversations = ConversationFactory.create_batch(CONVERSATIONS, project=project, turns=5)

    tracker = Tracker()
    # The server runs in this process: count the claims it runs at the same moment.
    in_server = Tracker()
    claim = queue.claim_next_task

    def counted_claim(**kwargs):
        in_server.enter()
        try:
            return claim(**kwargs)
        finally:
            in_server.leave()

    monkeypatch.setattr(queue, "claim_next_task", counted_claim)
    start = threading.Barrier(ANNOTATORS)
    threads = [
        threading.Thread(
            target=_label_until_done,
            args=(live_server.url, project.slug, name, token, tracker, start),
        )
        for name, token in tokens.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not [thread for thread in threads if thread.is_alive()], "a thread hung"
    assert tracker.errors == []
    task_ids = [task_id for task_id, _, _ in tracker.claims]
    assert len(task_ids) == len(set(task_ids)) == CONVERSATIONS * OVERLAP, "a task claimed twice"
    pairs = [(conversation, username) for _, conversation, username in tracker.claims]
    assert len(pairs) == len(set(pairs)), "an annotator got the same conversation twice"
    annotators = defaultdict(set)
    for conversation, username in pairs:
        annotators[conversation].add(username)
    assert {c: len(names) for c, names in annotators.items()} == {
        c.external_id: OVERLAP for c in conversations
    }
    # The database agrees: every slot submitted once, nothing left open or half done.
    assert Counter(Task.objects.filter(project=project).values_list("status", flat=True)) == {
        Task.Status.SUBMITTED: CONVERSATIONS * OVERLAP
    }
    assert Annotation.objects.filter(status=Annotation.Status.SUBMITTED).count() == len(task_ids)
    # The claims really overlapped: the server ran several at the same moment (each on its
    # own thread and database connection), and the work was shared out.
    assert tracker.most_in_flight > 1
    assert in_server.most_in_flight > 1
    assert len({username for _, _, username in tracker.claims}) > 1
