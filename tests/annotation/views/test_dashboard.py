from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import queue, services
from annotation.models import Annotation
from tests.factories import ConversationFactory, claimed_task

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
DONE = {
    "2": {
        "observed_behavior": ["answered"],
        "expected_behavior": "answer",
        "factuality": "correct",
    },
    "4": {"observed_behavior": ["refused"], "expected_behavior": "refuse", "factuality": "correct"},
}


@pytest.fixture
def progress(project, annotator):
    """Four conversations: one submitted by anna in 2.5 minutes, one in progress."""
    ConversationFactory.create_batch(2, project=project)
    task = claimed_task(project, annotator)
    annotation = services.save_annotation(
        task=task, user=annotator, version=1, turns=DONE, conversation={}, submit=True
    )
    Annotation.objects.filter(pk=annotation.pk).update(
        started_at=annotation.submitted_at - timedelta(seconds=150)
    )
    claimed_task(project, annotator)
    return project


def test_lead_sees_the_counts_the_bar_and_each_persons_pace(client, owner, progress):
    client.force_login(owner)
    response = client.get("/projects/support/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>1 of 4</strong> tasks done (25%)" in html
    assert 'class="done-bar-segment segment-submitted" style="width: 25%"' in html
    assert '</i>1</span><span class="stat-label">in progress' in html
    assert '</i>2</span><span class="stat-label">open' in html
    row = html[html.index("<td>anna</td>") :].split("</tr>")[0]
    cells = [cell.split(">")[-1] for cell in row.split("</td>")[:-1]]
    assert cells == ["anna", "Annotator", "1", "1", "2.5 min", "1"]


def test_the_dashboard_polls_and_htmx_gets_only_the_stats(client, reviewer, progress):
    client.force_login(reviewer)
    page = client.get("/projects/support/dashboard/").content.decode()
    assert 'hx-get="/projects/support/dashboard/" hx-trigger="every 5s"' in page
    response = client.get("/projects/support/dashboard/", headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="dashboard-stats"') and "<html" not in html
    assert "<strong>1 of 4</strong> tasks done" in html
    assert "HX-Request" in response["Vary"]


def test_the_counts_come_from_the_maintained_rows_not_from_counting_tasks(client, owner, progress):
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        client.get("/projects/support/dashboard/", headers=HTMX)
    counted = [q["sql"] for q in queries if "COUNT" in q["sql"] and '"annotation_task"' in q["sql"]]
    # Only the per-person open work is counted (assigned and in progress, by the index).
    assert len(counted) == 1 and "assigned" in counted[0]


def test_an_empty_project_shows_zero_without_dividing_by_it(client, owner, project):
    client.force_login(owner)
    html = client.get("/projects/support/dashboard/").content.decode()
    assert "<strong>0 of 0</strong> tasks done (0%)" in html


def test_annotators_get_403_and_outsiders_404(client, project, annotator, outsider):
    client.force_login(annotator)
    assert client.get("/projects/support/dashboard/").status_code == 403
    client.force_login(outsider)
    assert client.get("/projects/support/dashboard/").status_code == 404


def test_the_dashboard_is_get_only(client, project, owner):
    client.force_login(owner)
    assert client.post("/projects/support/dashboard/").status_code == 405


def test_leads_and_reviewers_see_the_dashboard_link(client, project, owner, reviewer, annotator):
    link = b'href="/projects/support/dashboard/"'
    for user, shown in ((owner, True), (reviewer, True), (annotator, False)):
        client.force_login(user)
        assert (link in client.get("/projects/support/").content) is shown


def test_the_overview_counts_come_from_the_queue(client, project, annotator):
    ConversationFactory.create_batch(3, project=project)
    queue.count_moves(project.pk, {"escalated": 2})  # counts, not rows: proves where they come from
    client.force_login(annotator)
    html = client.get("/projects/support/").content.decode()
    assert '<span class="stat-value">3</span><span class="stat-label">open tasks' in html
    assert '<span class="stat-value">2</span><span class="stat-label">escalated' in html
