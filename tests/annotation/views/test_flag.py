import pytest

from annotation.models import Flag
from tests.factories import claimed_task

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def task(project, annotator, client):
    client.force_login(annotator)
    return claimed_task(project, annotator)


def test_flagging_records_the_problem_and_htmx_gets_a_confirmation(client, annotator, task):
    response = client.post(
        f"/tasks/{task.pk}/flag/",
        {"kind": "pii", "note": "A phone number in turn 2."},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="flag-form"') and "<html" not in html
    assert "Flagged: Personal data. A lead will look at it." in html
    flag = Flag.objects.get()
    assert (flag.conversation, flag.project, flag.raised_by) == (
        task.conversation,
        task.project,
        annotator,
    )
    assert (flag.kind, flag.note, flag.resolved_at) == ("pii", "A phone number in turn 2.", None)


def test_flagging_without_htmx_goes_back_to_the_task_with_a_message(client, task):
    response = client.post(f"/tasks/{task.pk}/flag/", {"kind": "broken"}, follow=True)
    assert response.redirect_chain == [("/projects/support/label/", 302)]
    assert "Flagged: Broken or garbled." in response.content.decode()
    assert Flag.objects.get().kind == "broken"


def test_other_needs_a_note_and_nothing_is_created(client, task):
    response = client.post(f"/tasks/{task.pk}/flag/", {"kind": "other", "note": " "}, headers=HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="flag-form"')
    assert "Say what is wrong in the note." in html
    assert 'value="other" required checked' in html
    assert not Flag.objects.exists()


def test_an_unknown_kind_is_refused_and_nothing_is_created(client, task):
    response = client.post(f"/tasks/{task.pk}/flag/", {"kind": "boring"}, headers=HTMX)
    assert response.status_code == 400
    assert "Select a valid choice. boring is not one of the available choices." in (
        response.content.decode()
    )
    assert not Flag.objects.exists()


def test_an_invalid_flag_without_htmx_rerenders_the_workspace_with_the_form_open(client, task):
    response = client.post(f"/tasks/{task.pk}/flag/", {"kind": "other"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="annotation-form"' in html and '<details class="flag-menu" open>' in html
    assert "Say what is wrong in the note." in html
    assert not Flag.objects.exists()


def test_nobody_else_can_flag_the_task(client, task, owner, reviewer, outsider):
    for user in (owner, reviewer, outsider):
        client.force_login(user)
        response = client.post(f"/tasks/{task.pk}/flag/", {"kind": "pii"}, headers=HTMX)
        assert response.status_code == 404
    assert not Flag.objects.exists()


def test_flag_is_post_only(client, task):
    assert client.get(f"/tasks/{task.pk}/flag/").status_code == 405
