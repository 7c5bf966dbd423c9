import pytest

from annotation import queue
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_overview_shows_progress_and_guidelines(client, project, annotator):
    project.guidelines = "## Judge carefully\n\nAsk when **unsure**."
    project.save()
    ConversationFactory.create_batch(3, project=project)
    queue.claim_next_task(project=project, user=annotator)
    client.force_login(annotator)
    response = client.get("/projects/support/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h2>Judge carefully</h2>" in html and "<strong>unsure</strong>" in html
    assert '<span class="stat-value">3</span><span class="stat-label">conversations' in html
    assert '<span class="stat-value">2</span><span class="stat-label">open tasks' in html
    assert '<span class="stat-value">1</span><span class="stat-label">in progress' in html


def test_guidelines_markdown_cannot_inject_script(client, project, annotator):
    project.guidelines = "<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    project.save()
    client.force_login(annotator)
    html = client.get("/projects/support/").content.decode()
    assert "<script>alert(1)" not in html
    assert 'href="javascript:' not in html


def test_outsider_gets_404(client, project, outsider):
    client.force_login(outsider)
    assert client.get("/projects/support/").status_code == 404


def test_unknown_project_is_404(client, annotator):
    client.force_login(annotator)
    assert client.get("/projects/nope/").status_code == 404


def test_overview_is_get_only(client, project, annotator):
    client.force_login(annotator)
    assert client.post("/projects/support/").status_code == 405
