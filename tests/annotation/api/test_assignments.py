"""Bulk assignment: a lead's action on filtered conversations, run as a Celery job."""

from collections import Counter

import pytest
from rest_framework.test import APIClient

from accounts.models import ExpertiseTag
from annotation.models import AssignmentJob, Task
from config.celery import app as celery_app
from projects.models import Membership, Project
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]

URL = "/api/v1/projects/support/assignments/"
NEXT = "/api/v1/projects/support/tasks/next/"


def _job_url(job_id: int) -> str:
    return f"/api/v1/assignments/{job_id}/"


def _tasks() -> list[tuple]:
    return list(
        Task.objects.order_by("id").values_list(
            "id", "conversation_id", "status", "assignee_id", "priority"
        )
    )


def _assignees(conversation) -> list[str]:
    return sorted(
        Task.objects.filter(conversation=conversation, status=Task.Status.ASSIGNED).values_list(
            "assignee__username", flat=True
        )
    )


def _messages(body) -> str:
    """Every message in an error body, whatever its shape, as one string."""
    if isinstance(body, dict):
        return " ".join(_messages(value) for value in body.values())
    if isinstance(body, list):
        return " ".join(_messages(value) for value in body)
    return str(body)


@pytest.fixture
def mixed(project) -> Project:
    project.assignment_mode = Project.AssignmentMode.MIXED
    project.save()
    return project


@pytest.fixture
def team(mixed, annotator):
    """Annotators anna, bea and carl; bea and carl know insurance."""
    insurance = ExpertiseTag.objects.create(name="insurance")
    users = {"anna": annotator}
    for name in ("bea", "carl"):
        users[name] = UserFactory(username=name)
        users[name].expertise.add(insurance)
        MembershipFactory(project=mixed, user=users[name], role=Membership.Role.ANNOTATOR)
    return users


def test_lead_assigns_matching_conversations_to_every_chosen_annotator(api, owner, team):
    mixed = Project.objects.get(slug="support")
    mixed.overlap = 2
    mixed.save()
    hr = ConversationFactory.create_batch(2, project=mixed, metadata={"domain": "hr"})
    it = ConversationFactory(project=mixed)
    client = api(owner)

    response = client.post(
        URL,
        {
            "action": "assign",
            "filter": {"metadata": {"domain": "hr"}},
            "annotators": ["anna", "bea"],
            "priority": 3,
        },
        format="json",
    )

    assert response.status_code == 202
    job = AssignmentJob.objects.get()
    assert response.json() == {
        "id": job.pk,
        "status": "succeeded",  # Celery runs eagerly in tests
        "url": f"http://testserver/api/v1/assignments/{job.pk}/",
    }
    assert [_assignees(c) for c in hr] == [["anna", "bea"], ["anna", "bea"]]
    assert set(Task.objects.filter(conversation__in=hr).values_list("priority", flat=True)) == {3}
    assert _assignees(it) == []
    state = client.get(response.json()["url"])
    assert state.status_code == 200
    assert state.json() == {
        **state.json(),
        "id": job.pk,
        "action": "assign",
        "status": "succeeded",
        "total": 2,
        "processed": 2,
        "changed": 4,
        "skipped": 0,
        "message": "4 tasks assigned.",
    }
    assert state.json()["finished_at"] is not None
    assert set(state.json()) == {
        "id",
        "action",
        "status",
        "total",
        "processed",
        "changed",
        "skipped",
        "message",
        "created_at",
        "finished_at",
    }


def test_assigned_work_is_what_the_annotator_gets_next(api, owner, team):
    mixed = Project.objects.get(slug="support")
    ConversationFactory(project=mixed, external_id="first")
    wanted = ConversationFactory(project=mixed, external_id="wanted")

    api(owner).post(
        URL,
        {"action": "assign", "filter": {"ids": ["wanted"]}, "annotators": ["bea"]},
        format="json",
    )

    assert api(team["bea"]).post(NEXT).json()["conversation"]["id"] == wanted.external_id


def test_distribute_spreads_conversations_evenly_by_open_load(api, owner, team):
    mixed = Project.objects.get(slug="support")
    ConversationFactory(project=mixed, external_id="earlier")
    ConversationFactory.create_batch(5, project=mixed, metadata={"batch": "2"})
    client = api(owner)
    client.post(
        URL,
        {"action": "assign", "filter": {"ids": ["earlier"]}, "annotators": ["anna"]},
        format="json",
    )

    response = client.post(
        URL,
        {
            "action": "distribute",
            "filter": {"metadata": {"batch": "2"}},
            "annotators": ["anna", "bea", "carl"],
        },
        format="json",
    )

    assert response.status_code == 202
    load = Counter(
        Task.objects.filter(status=Task.Status.ASSIGNED).values_list(
            "assignee__username", flat=True
        )
    )
    assert load == {"anna": 2, "bea": 2, "carl": 2}
    assert client.get(response.json()["url"]).json()["message"] == "5 tasks assigned."


def test_distribute_by_expertise_goes_only_to_the_experts(api, owner, team):
    mixed = Project.objects.get(slug="support")
    ConversationFactory.create_batch(4, project=mixed)

    response = api(owner).post(
        URL, {"action": "distribute", "filter": {}, "expertise": "insurance"}, format="json"
    )

    assert response.status_code == 202
    load = Counter(
        Task.objects.filter(status=Task.Status.ASSIGNED).values_list(
            "assignee__username", flat=True
        )
    )
    assert load == {"bea": 2, "carl": 2}


def test_unassign_reopens_the_chosen_annotators_assigned_tasks(api, owner, team):
    mixed = Project.objects.get(slug="support")
    mixed.overlap = 2
    mixed.save()
    conversations = ConversationFactory.create_batch(2, project=mixed)
    client = api(owner)
    client.post(URL, {"action": "assign", "annotators": ["anna", "bea"]}, format="json")

    response = client.post(URL, {"action": "unassign", "annotators": ["anna"]}, format="json")

    assert response.status_code == 202
    assert [_assignees(c) for c in conversations] == [["bea"], ["bea"]]
    assert Task.objects.filter(status=Task.Status.OPEN).count() == 2
    assert client.get(response.json()["url"]).json()["changed"] == 2


def test_unassign_without_annotators_reopens_every_matching_assigned_task(api, owner, team):
    mixed = Project.objects.get(slug="support")
    ConversationFactory.create_batch(3, project=mixed)
    client = api(owner)
    client.post(URL, {"action": "distribute", "annotators": ["anna", "bea"]}, format="json")

    client.post(URL, {"action": "unassign"}, format="json")

    assert not Task.objects.exclude(status=Task.Status.OPEN).exists()


def test_prioritize_sets_the_priority_of_matching_conversations(api, owner, project):
    urgent = ConversationFactory(project=project, metadata={"tags": ["urgent"]})
    other = ConversationFactory(project=project)

    response = api(owner).post(
        URL, {"action": "prioritize", "filter": {"tag": "urgent"}, "priority": 9}, format="json"
    )

    assert response.status_code == 202
    assert Task.objects.get(conversation=urgent).priority == 9
    assert Task.objects.get(conversation=other).priority == 0


def test_the_job_waits_for_the_commit_and_runs_on_the_distribution_queue(
    api, owner, team, monkeypatch
):
    ConversationFactory(project=Project.objects.get(slug="support"))
    callbacks = []
    monkeypatch.setattr(
        "django.db.transaction.on_commit",
        lambda func, using=None, robust=False: callbacks.append(func),
    )

    response = api(owner).post(URL, {"action": "assign", "annotators": ["anna"]}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert not Task.objects.filter(status=Task.Status.ASSIGNED).exists()
    route = celery_app.amqp.router.route({}, "annotation.tasks.distribute_assignments")
    assert route["queue"].name == "distribution"
    assert len(callbacks) == 1
    callbacks[0]()
    assert AssignmentJob.objects.get().status == AssignmentJob.Status.SUCCEEDED
    assert Task.objects.get().assignee == team["anna"]


# --- Bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"action": "steal"}, '"steal" is not a valid choice.'),
        ({}, "This field is required."),
        ({"action": "assign", "filter": {"colour": "red"}, "annotators": ["anna"]}, "colour"),
        ({"action": "assign", "filter": "all", "annotators": ["anna"]}, "Expected a dictionary"),
        (
            {"action": "assign", "filters": {"ids": ["x"]}, "annotators": ["anna"]},
            "Unknown field: filters.",
        ),
        (
            {"action": "assign", "filter": {"metadata": ["hr"]}, "annotators": ["anna"]},
            '"metadata" must be an object',
        ),
        (
            {"action": "assign", "filter": {"status": "lost"}, "annotators": ["anna"]},
            'Unknown status "lost"',
        ),
        (
            {"action": "assign", "filter": {"labeled": "maybe"}, "annotators": ["anna"]},
            '"labeled" is "yes" or "no".',
        ),
        (
            {"action": "assign", "filter": {"ids": "conv-1"}, "annotators": ["anna"]},
            '"ids" must be a list',
        ),
        (
            {"action": "assign", "annotators": ["anna", "oscar", "zed"]},
            "Not members of this project: oscar, zed.",
        ),
        ({"action": "assign", "annotators": "anna"}, "Expected a list of items"),
        (
            {"action": "distribute", "expertise": "astrology"},
            'No expertise called "astrology" (known:',
        ),
        (
            {"action": "distribute", "expertise": "oncology"},
            'No member of this project has the expertise "oncology".',
        ),
        ({"action": "assign"}, "Choose the annotators, or an expertise"),
        ({"action": "prioritize", "priority": "high"}, "A valid integer is required."),
        ({"action": "prioritize", "priority": 1.5}, "A valid integer is required."),
        ({"action": "prioritize"}, "Give the priority as a whole number"),
        ({"action": "prioritize", "priority": 2**31}, "less than or equal to 2147483647"),
        (
            {"action": "prioritize", "filter": {"import_job": "abc"}, "priority": 1},
            '"import_job" is the id of an import',
        ),
        ({"action": "unassign", "annotators": ["oscar"]}, "Not members of this project: oscar."),
    ],
)
def test_bad_input_gets_400_naming_the_problem_and_creates_nothing(
    api, owner, outsider, team, payload, message
):
    ExpertiseTag.objects.create(name="oncology")
    ConversationFactory.create_batch(2, project=Project.objects.get(slug="support"))
    before = _tasks()

    response = api(owner).post(URL, payload, format="json")

    assert response.status_code == 400
    assert message in _messages(response.json())
    assert not AssignmentJob.objects.exists()
    assert _tasks() == before


@pytest.mark.parametrize("action", ["assign", "distribute"])
def test_assigning_in_a_pool_mode_project_gets_400_and_creates_nothing(
    api, owner, annotator, project, action
):
    ConversationFactory(project=project)
    before = _tasks()

    response = api(owner).post(URL, {"action": action, "annotators": ["anna"]}, format="json")

    assert response.status_code == 400
    assert "pool only" in response.json()["detail"]
    assert not AssignmentJob.objects.exists()
    assert _tasks() == before


# --- Who may --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_non_lead_members_get_403_and_create_nothing(api, mixed, persona, request):
    ConversationFactory(project=mixed)
    before = _tasks()

    response = api(request.getfixturevalue(persona)).post(
        URL, {"action": "assign", "annotators": ["anna"]}, format="json"
    )

    assert response.status_code == 403
    assert "lead" in response.json()["detail"]
    assert not AssignmentJob.objects.exists()
    assert _tasks() == before


def test_non_lead_gets_403_even_for_a_bad_body(api, annotator, mixed):
    response = api(annotator).post(URL, {"action": "steal"}, format="json")

    assert response.status_code == 403


def test_outsider_gets_404_and_creates_nothing(api, outsider, mixed):
    ConversationFactory(project=mixed)

    response = api(outsider).post(URL, {"action": "assign", "annotators": ["anna"]}, format="json")

    assert response.status_code == 404
    assert not AssignmentJob.objects.exists()


def test_unauthenticated_assignment_gets_401_and_creates_nothing(mixed):
    response = APIClient().post(URL, {"action": "unassign"}, format="json")

    assert response.status_code == 401
    assert not AssignmentJob.objects.exists()


def test_get_on_assignments_gets_405(api, owner, mixed):
    response = api(owner).get(URL)

    assert response.status_code == 405


@pytest.fixture
def job(api, owner, mixed) -> int:
    ConversationFactory(project=mixed)
    return api(owner).post(URL, {"action": "unassign"}, format="json").json()["id"]


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "outsider"])
def test_only_leads_of_the_project_see_a_job_others_get_404(api, job, persona, request):
    response = api(request.getfixturevalue(persona)).get(_job_url(job))

    assert response.status_code == 404


def test_a_lead_of_another_project_gets_404_for_a_job(api, job):
    other_lead = UserFactory(username="lena")
    ProjectFactory(created_by=other_lead, slug="elsewhere")

    response = api(other_lead).get(_job_url(job))

    assert response.status_code == 404


def test_unknown_job_gets_404(api, owner, mixed):
    response = api(owner).get(_job_url(999999))

    assert response.status_code == 404


def test_unauthenticated_job_status_gets_401(job):
    response = APIClient().get(_job_url(job))

    assert response.status_code == 401


def test_post_on_a_job_gets_405(api, owner, job):
    response = api(owner).post(_job_url(job))

    assert response.status_code == 405
