"""The task list, and giving a task back: release and skip."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ExpertiseTag
from annotation.models import Task
from projects.models import Membership
from tests.factories import (
    ConversationFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    claimed_task,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/projects/support/tasks/"
NEXT = "/api/v1/projects/support/tasks/next/"


def _release_url(task: Task) -> str:
    return f"/api/v1/tasks/{task.pk}/release/"


def _skip_url(task: Task) -> str:
    return f"/api/v1/tasks/{task.pk}/skip/"


def _tasks() -> list[tuple]:
    """Every task's state, to check that a refused request changed nothing."""
    return list(
        Task.objects.order_by("id").values_list(
            "id", "conversation_id", "status", "assignee_id", "required_expertise_id", "priority"
        )
    )


def _assign(task: Task, user) -> Task:
    task.status = Task.Status.ASSIGNED
    task.assignee = user
    task.assigned_at = timezone.now()
    task.save()
    return task


def _open_task(conversation) -> Task:
    return Task.objects.get(conversation=conversation, status=Task.Status.OPEN)


@pytest.fixture
def member(project):
    """member("name", role="annotator", expertise=()) -> a new member of the project."""

    def make(username: str, role: str = Membership.Role.ANNOTATOR, expertise=()):
        user = UserFactory(username=username)
        MembershipFactory(project=project, user=user, role=role)
        for name in expertise:
            user.expertise.add(ExpertiseTag.objects.get_or_create(name=name)[0])
        return user

    return make


@pytest.fixture
def mixed_tasks(project, annotator, reviewer):
    """One task in each bucket: pool, escalated, assigned, in progress, submitted, skipped."""
    insurance = ExpertiseTag.objects.create(name="insurance")
    pool = _open_task(ConversationFactory(project=project, external_id="pool"))
    escalated = _open_task(ConversationFactory(project=project, external_id="escalated"))
    escalated.required_expertise = insurance
    escalated.save()
    assigned = _assign(_open_task(ConversationFactory(project=project, external_id="a")), reviewer)
    in_progress = claimed_task(
        project, annotator, ConversationFactory(project=project, external_id="b")
    )
    submitted = claimed_task(
        project, reviewer, ConversationFactory(project=project, external_id="c")
    )
    submitted.status = Task.Status.SUBMITTED
    submitted.completed_at = timezone.now()
    submitted.save()
    skipped = claimed_task(
        project, annotator, ConversationFactory(project=project, external_id="d")
    )
    skipped.status = Task.Status.SKIPPED
    skipped.skip_reason = Task.SkipReason.UNREADABLE
    skipped.save()
    return {
        "open": pool,
        "escalated": escalated,
        "assigned": assigned,
        "in_progress": in_progress,
        "submitted": submitted,
        "skipped": skipped,
    }


# --- Listing ----------------------------------------------------------------------------


def test_lead_lists_every_task_of_the_project_by_id_with_its_fields(api, owner, annotator, project):
    first = ConversationFactory(project=project, external_id="first")
    task = claimed_task(project, annotator, ConversationFactory(project=project, external_id="x"))
    ConversationFactory(project=ProjectFactory(slug="other"))

    response = api(owner).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}  # cursor pages: no count
    assert [item["conversation"] for item in body["results"]] == ["first", "x"]
    assert body["results"][0] == {
        "id": _open_task(first).pk,
        "conversation": "first",
        "status": "open",
        "assignee": None,
        "priority": 0,
        "required_expertise": None,
        "skip_reason": "",
        "claimed_at": None,
        "lease_expires_at": None,
        "completed_at": None,
    }
    item = body["results"][1]
    assert (item["id"], item["status"], item["assignee"]) == (task.pk, "in_progress", "anna")
    assert item["claimed_at"] is not None
    assert item["lease_expires_at"] is not None


def test_reviewer_sees_every_task_of_the_project(api, reviewer, mixed_tasks):
    response = api(reviewer).get(LIST)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == sorted(
        task.pk for task in mixed_tasks.values()
    )


def test_annotator_sees_only_their_own_tasks(api, annotator, mixed_tasks):
    response = api(annotator).get(LIST)

    assert response.status_code == 200
    assert [(item["id"], item["assignee"]) for item in response.json()["results"]] == [
        (mixed_tasks["in_progress"].pk, "anna"),
        (mixed_tasks["skipped"].pk, "anna"),
    ]


def test_annotator_filtering_by_someone_elses_name_sees_nothing(api, annotator, mixed_tasks):
    response = api(annotator).get(LIST, {"assignee": "rafael"})

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "status", ["open", "escalated", "assigned", "in_progress", "submitted", "skipped"]
)
def test_lead_filters_tasks_by_status(api, owner, mixed_tasks, status):
    response = api(owner).get(LIST, {"status": status})

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [mixed_tasks[status].pk]


def test_open_leaves_out_escalated_tasks_and_escalated_names_the_expertise(api, owner, mixed_tasks):
    escalated = api(owner).get(LIST, {"status": "escalated"}).json()["results"]
    pool = api(owner).get(LIST, {"status": "open"}).json()["results"]

    assert [(i["status"], i["required_expertise"]) for i in escalated] == [("open", "insurance")]
    assert [(i["status"], i["required_expertise"]) for i in pool] == [("open", None)]


def test_lead_filters_tasks_by_assignee_and_status_together(api, owner, mixed_tasks):
    client = api(owner)

    mine = client.get(LIST, {"assignee": "anna"}).json()["results"]
    skipped = client.get(LIST, {"assignee": "anna", "status": "skipped"}).json()["results"]
    nobody = client.get(LIST, {"assignee": "nobody"}).json()["results"]

    assert [i["id"] for i in mine] == [mixed_tasks["in_progress"].pk, mixed_tasks["skipped"].pk]
    assert [(i["id"], i["skip_reason"]) for i in skipped] == [
        (mixed_tasks["skipped"].pk, "unreadable")
    ]
    assert nobody == []


def test_unknown_status_filter_gets_400_naming_the_status(api, owner, mixed_tasks):
    response = api(owner).get(LIST, {"status": "lost"})

    assert response.status_code == 400
    assert list(response.json()) == ["status"]
    assert "lost" in response.json()["status"][0]


def test_pages_follow_the_next_link_without_duplicates_or_counting(api, owner, project):
    ConversationFactory.create_batch(7, project=project, turns=1)
    client = api(owner)
    expected = list(Task.objects.order_by("id").values_list("id", flat=True))

    seen, pages = [], 0
    url, params = LIST, {"page_size": 3}
    with CaptureQueriesContext(connection) as queries:
        while url:
            body = client.get(url, params).json()
            seen += [item["id"] for item in body["results"]]
            url, params, pages = body["next"], None, pages + 1

    assert seen == expected
    assert pages == 3
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_next_link_keeps_the_filters(api, owner, annotator, project):
    for _ in range(5):
        claimed_task(project, annotator)
    ConversationFactory.create_batch(3, project=project, turns=1)
    client = api(owner)

    first = client.get(LIST, {"status": "in_progress", "page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    statuses = {i["status"] for page in (first, second, third) for i in page["results"]}
    assert statuses == {"in_progress"}
    assert [len(page["results"]) for page in (first, second, third)] == [2, 2, 1]
    assert third["next"] is None
    assert "status=in_progress" in first["next"]


def test_tasks_added_while_paging_are_neither_repeated_nor_skipped(api, owner, project):
    ConversationFactory.create_batch(4, project=project, turns=1)
    client = api(owner)

    first = client.get(LIST, {"page_size": 2}).json()
    added = ConversationFactory(project=project, turns=1)
    rest = client.get(first["next"]).json()
    last = client.get(rest["next"]).json()

    ids = [i["id"] for page in (first, rest, last) for i in page["results"]]
    assert len(ids) == len(set(ids)) == 5
    assert ids[-1] == _open_task(added).pk


def test_outsider_gets_404_listing_tasks(api, outsider, mixed_tasks):
    response = api(outsider).get(LIST)

    assert response.status_code == 404


def test_unknown_project_gets_404_listing_tasks(api, owner, mixed_tasks):
    response = api(owner).get("/api/v1/projects/nope/tasks/")

    assert response.status_code == 404


def test_unauthenticated_task_list_gets_401(mixed_tasks):
    response = APIClient().get(LIST)

    assert response.status_code == 401


def test_post_on_the_task_list_gets_405(api, owner, mixed_tasks):
    response = api(owner).post(LIST, {}, format="json")

    assert response.status_code == 405
    assert len(_tasks()) == len(mixed_tasks)


# --- Releasing ------------------------------------------------------------------------


def test_annotator_releases_their_task_and_the_slot_goes_back_to_the_pool(
    api, annotator, reviewer, conversation
):
    client = api(annotator)
    claimed = client.post(NEXT).json()
    task = Task.objects.get(pk=claimed["id"])

    response = client.post(_release_url(task))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["assignee"]) == (task.pk, "released", "anna")
    assert body["completed_at"] is not None
    assert body["lease_expires_at"] is None
    replacement = _open_task(conversation)
    assert replacement.assignee is None
    # The released annotator never gets it again; anyone else does.
    assert client.post(NEXT).status_code == 204
    theirs = api(reviewer).post(NEXT)
    assert theirs.status_code == 200
    assert theirs.json()["id"] == replacement.pk
    assert theirs.json()["conversation"]["id"] == conversation.external_id


def test_releasing_an_assigned_task_returns_it_to_the_pool_as_is(api, annotator, conversation):
    task = _assign(_open_task(conversation), annotator)

    response = api(annotator).post(_release_url(task))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["assignee"]) == ("open", None)
    assert _tasks() == [(task.pk, conversation.pk, "open", None, None, 0)]


def test_lead_releases_an_annotators_task(api, owner, annotator, project):
    task = claimed_task(project, annotator)

    response = api(owner).post(_release_url(task))

    assert response.status_code == 200
    assert response.json()["status"] == "released"
    assert Task.objects.filter(conversation=task.conversation, status="open").count() == 1


@pytest.mark.parametrize("persona", ["reviewer", "outsider"])
def test_others_get_404_releasing_a_task_and_nothing_changes(
    api, annotator, project, persona, request
):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = api(request.getfixturevalue(persona)).post(_release_url(task))

    assert response.status_code == 404
    assert _tasks() == before


def test_releasing_an_unknown_task_gets_404(api, owner, project):
    response = api(owner).post("/api/v1/tasks/999999/release/")

    assert response.status_code == 404


@pytest.mark.parametrize("status", ["submitted", "skipped"])
def test_releasing_a_finished_task_gets_409_and_nothing_changes(api, annotator, project, status):
    task = claimed_task(project, annotator)
    Task.objects.filter(pk=task.pk).update(status=status)
    before = _tasks()

    response = api(annotator).post(_release_url(task))

    assert response.status_code == 409
    assert "only assigned or in-progress tasks can be released" in response.json()["detail"]
    assert _tasks() == before


def test_lead_releasing_an_open_task_gets_409(api, owner, conversation):
    response = api(owner).post(_release_url(_open_task(conversation)))

    assert response.status_code == 409


def test_unauthenticated_release_gets_401_and_nothing_changes(annotator, project):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = APIClient().post(_release_url(task))

    assert response.status_code == 401
    assert _tasks() == before


def test_get_on_release_gets_405_and_nothing_changes(api, annotator, project):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = api(annotator).get(_release_url(task))

    assert response.status_code == 405
    assert _tasks() == before


# --- Skipping -------------------------------------------------------------------------


def test_annotator_skips_a_task_with_a_reason_and_never_gets_it_again(
    api, annotator, reviewer, conversation
):
    client = api(annotator)
    task = Task.objects.get(pk=client.post(NEXT).json()["id"])

    response = client.post(
        _skip_url(task), {"reason": "unreadable", "note": "garbled text"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["skip_reason"]) == (task.pk, "skipped", "unreadable")
    assert body["assignee"] == "anna"
    task.refresh_from_db()
    assert task.note == "garbled text"
    assert _open_task(conversation).required_expertise is None
    assert client.post(NEXT).status_code == 204
    assert api(reviewer).post(NEXT).json()["conversation"]["id"] == conversation.external_id


def test_skipping_as_needs_expert_sends_the_conversation_to_experts_only(
    api, annotator, owner, member, conversation
):
    expert = member("ines", expertise=["insurance"])
    layman = member("leo", expertise=["oncology"])
    task = Task.objects.get(pk=api(annotator).post(NEXT).json()["id"])

    response = api(annotator).post(
        _skip_url(task), {"reason": "needs_expert", "expertise": "insurance"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["skip_reason"] == "needs_expert"
    escalated = api(owner).get(LIST, {"status": "escalated"}).json()["results"]
    assert [(i["conversation"], i["required_expertise"]) for i in escalated] == [
        (conversation.external_id, "insurance")
    ]
    assert api(layman).post(NEXT).status_code == 204
    theirs = api(expert).post(NEXT)
    assert theirs.status_code == 200
    assert theirs.json()["conversation"]["id"] == conversation.external_id
    assert api(annotator).post(NEXT).status_code == 204


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"reason": "bored"}, "reason", '"bored" is not a valid choice.'),
        ({}, "reason", "This field is required."),
        ({"reason": None}, "reason", "This field may not be null."),
    ],
)
def test_skipping_with_a_bad_reason_gets_400_and_nothing_changes(
    api, annotator, project, payload, field, message
):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = api(annotator).post(_skip_url(task), payload, format="json")

    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert _tasks() == before


@pytest.mark.parametrize("expertise", [None, "", "  !!  "])
def test_needs_expert_without_an_expertise_gets_400_and_nothing_changes(
    api, annotator, project, expertise
):
    task = claimed_task(project, annotator)
    before = _tasks()
    payload = {"reason": "needs_expert"}
    if expertise is not None:
        payload["expertise"] = expertise

    response = api(annotator).post(_skip_url(task), payload, format="json")

    assert response.status_code == 400
    assert "Name the expertise" in response.json()["detail"]
    assert _tasks() == before
    assert not ExpertiseTag.objects.exists()


def test_skipping_where_the_project_forbids_it_gets_403_and_nothing_changes(
    api, annotator, project
):
    project.allow_skip = False
    project.save()
    task = claimed_task(project, annotator)
    before = _tasks()

    response = api(annotator).post(_skip_url(task), {"reason": "other"}, format="json")

    assert response.status_code == 403
    assert "does not allow skipping" in response.json()["detail"]
    assert _tasks() == before


@pytest.mark.parametrize("status", ["submitted", "released"])
def test_skipping_a_finished_task_gets_409_and_nothing_changes(api, annotator, project, status):
    task = claimed_task(project, annotator)
    Task.objects.filter(pk=task.pk).update(status=status)
    before = _tasks()

    response = api(annotator).post(_skip_url(task), {"reason": "other"}, format="json")

    assert response.status_code == 409
    assert "cannot be skipped" in response.json()["detail"]
    assert _tasks() == before


def test_an_assigned_task_can_be_skipped_before_it_is_started(api, annotator, conversation):
    task = _assign(_open_task(conversation), annotator)

    response = api(annotator).post(_skip_url(task), {"reason": "not_my_expertise"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "skipped"
    assert _open_task(conversation).assignee is None


@pytest.mark.parametrize("persona", ["owner", "reviewer", "outsider"])
def test_only_the_tasks_annotator_may_skip_it_others_get_404(
    api, annotator, project, persona, request
):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = api(request.getfixturevalue(persona)).post(
        _skip_url(task), {"reason": "other"}, format="json"
    )

    assert response.status_code == 404
    assert _tasks() == before


def test_unauthenticated_skip_gets_401_and_nothing_changes(annotator, project):
    task = claimed_task(project, annotator)
    before = _tasks()

    response = APIClient().post(_skip_url(task), {"reason": "other"}, format="json")

    assert response.status_code == 401
    assert _tasks() == before


def test_get_on_skip_gets_405(api, annotator, project):
    task = claimed_task(project, annotator)

    response = api(annotator).get(_skip_url(task))

    assert response.status_code == 405
