import pytest

from annotation.models import Task, Turn
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_label_claims_a_task_and_shows_every_turn_with_its_panel(client, project, annotator):
    conversation = ConversationFactory(project=project, turns=5)
    client.force_login(annotator)
    response = client.get("/projects/support/label/")
    assert response.status_code == 200
    task = Task.objects.get(assignee=annotator)
    assert task.conversation == conversation
    html = response.content.decode()
    for index in range(5):
        assert f'id="turn-{index}"' in html
    # Assistant turns (2 and 4) get the assistant questions, the user turns get prompt traits.
    assert 'name="turns.2.factuality"' in html and 'name="turns.4.observed_behavior"' in html
    assert 'name="turns.1.prompt_traits"' in html
    assert 'name="turns.1.factuality"' not in html and 'name="turns.0.' not in html
    assert 'name="conversation.overall"' in html
    assert f'hx-post="/tasks/{task.pk}/save/"' in html
    assert 'name="version" id="annotation-version" value="1"' in html


def test_reloading_shows_the_same_task_with_saved_answers(client, project, annotator):
    ConversationFactory.create_batch(2, project=project)
    client.force_login(annotator)
    client.get("/projects/support/label/")
    task = Task.objects.get(assignee=annotator)
    client.post(
        f"/tasks/{task.pk}/save/",
        {
            "version": "1",
            "turns.2.factuality": "fabricated",
            "turns.2.observed_behavior": ["answered", "cited_sources"],
        },
        headers={"HX-Request": "true"},
    )
    html = client.get("/projects/support/label/").content.decode()
    assert Task.objects.filter(assignee=annotator).count() == 1
    assert 'value="fabricated" data-hotkey="4" checked' in html
    assert 'value="cited_sources" data-hotkey="6" checked' in html
    assert 'value="answered" data-hotkey="1" checked' in html
    assert 'value="2"' in html  # the version moved on


def test_turn_text_is_escaped(client, project, annotator):
    conversation = ConversationFactory(project=project, turns=3)
    Turn.objects.filter(conversation=conversation, index=1).update(
        text='<script>alert("x")</script><img src=x onerror=alert(1)>'
    )
    client.force_login(annotator)
    html = client.get("/projects/support/label/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_nothing_left_says_so(client, project, annotator):
    client.force_login(annotator)
    response = client.get("/projects/support/label/")
    assert response.status_code == 200
    assert b"Nothing left to label" in response.content


def test_outsider_gets_404_and_claims_nothing(client, project, outsider):
    ConversationFactory(project=project)
    client.force_login(outsider)
    assert client.get("/projects/support/label/").status_code == 404
    assert not Task.objects.exclude(assignee=None).exists()


def test_label_is_get_only(client, project, annotator):
    client.force_login(annotator)
    assert client.post("/projects/support/label/").status_code == 405
