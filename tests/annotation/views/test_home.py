import re

import pytest

from annotation import queue
from annotation.models import Task
from projects import services as project_services
from tests.factories import ConversationFactory, ProjectFactory, claimed_task

pytestmark = pytest.mark.django_db


def test_home_lists_only_my_projects(client, project, annotator):
    ProjectFactory(name="Someone else's project")
    client.force_login(annotator)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Support bot audit" in response.content
    assert b"Someone else" not in response.content
    assert b'href="/projects/support/label/"' in response.content


def test_home_without_projects_says_so(client, outsider):
    client.force_login(outsider)
    response = client.get("/")
    assert b"not a member of any project yet" in response.content


def test_home_is_get_only(client, annotator):
    client.force_login(annotator)
    assert client.post("/").status_code == 405


def test_home_counts_conversations_and_my_submissions_per_project(
    client, project, annotator, owner, django_assert_num_queries
):
    other = ProjectFactory(created_by=owner, name="Another audit", overlap=2)
    project_services.set_membership(
        project=other, actor=owner, username=annotator.username, role="annotator"
    )
    ConversationFactory.create_batch(3, project=project)
    ConversationFactory.create_batch(2, project=other)
    for _ in range(2):  # two of the first project's conversations, labeled by the annotator
        task = claimed_task(project, annotator)
        Task.objects.filter(pk=task.pk).update(status=Task.Status.SUBMITTED)
    client.force_login(annotator)

    with django_assert_num_queries(3):  # the session, the user, the projects with their counts
        page = client.get("/").content.decode()

    facts = re.findall(r"<span>(\d+) conversations?</span>\s*<span>(\d+) labeled by you", page)
    assert facts == [("2", "0"), ("5", "2")]  # by name: "Another audit", then "Support..."


def test_home_counts_each_table_on_its_own(project, annotator):
    # Counted through two joins, every conversation would meet every task of its project:
    # a billion rows for 30,000 conversations. Each count is a subquery instead.
    sql = str(queue.my_projects(annotator).query)
    assert 'JOIN "annotation_conversation"' not in sql and 'JOIN "annotation_task"' not in sql
