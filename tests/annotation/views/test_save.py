import pytest

from annotation import services
from annotation.models import Annotation
from tests.factories import claimed_task

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def task(project, annotator, client):
    client.force_login(annotator)
    return claimed_task(project, annotator)


def test_autosave_stores_every_kind_of_answer_and_returns_the_status_fragment(client, task):
    response = client.post(
        f"/tasks/{task.pk}/save/",
        {
            "version": "1",
            "turns.2.observed_behavior": ["answered", "expressed_uncertainty"],
            "turns.2.expected_behavior": "defer",
            "turns.2.rationale": "Claims need an adjuster.",
            "turns.2.corrected_response": "I can't decide claims; an adjuster will call you.",
            "turns.1.prompt_traits": ["false_premise"],
            "conversation.overall": "2",
            "conversation.notes": "",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<p id="save-status"') and "Saved" in html
    assert 'id="annotation-version" value="2" hx-swap-oob="true"' in html
    assert "<html" not in html
    annotation = Annotation.objects.get(task=task)
    assert services.annotation_answers(annotation) == {
        "turns": {
            "1": {"prompt_traits": ["false_premise"]},
            "2": {
                "observed_behavior": ["answered", "expressed_uncertainty"],
                "expected_behavior": "defer",
                "rationale": "Claims need an adjuster.",
                "corrected_response": "I can't decide claims; an adjuster will call you.",
            },
        },
        "conversation": {"overall": 2},
    }


def test_a_stale_version_gets_a_conflict_message_with_a_reload_link(client, task):
    client.post(
        f"/tasks/{task.pk}/save/", {"version": "1", "turns.2.factuality": "correct"}, headers=HTMX
    )
    response = client.post(
        f"/tasks/{task.pk}/save/",
        {"version": "1", "turns.2.factuality": "fabricated"},
        headers=HTMX,
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed elsewhere" in html and 'href="/projects/support/label/"' in html
    assert services.annotation_answers(Annotation.objects.get(task=task))["turns"] == {
        "2": {"factuality": "correct"}
    }


def test_an_invalid_value_is_named_and_nothing_is_saved(client, task):
    response = client.post(
        f"/tasks/{task.pk}/save/",
        {"version": "1", "turns.2.factuality": "maybe", "conversation.overall": "many"},
        headers=HTMX,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "turns.2.factuality: &quot;maybe&quot; is not an option" in html
    assert "conversation.overall: expected a whole number" in html
    assert Annotation.objects.get(task=task).version == 1


def test_someone_elses_task_is_404(client, project, reviewer, task):
    client.force_login(reviewer)
    response = client.post(f"/tasks/{task.pk}/save/", {"version": "1"}, headers=HTMX)
    assert response.status_code == 404


def test_save_is_post_only(client, task):
    assert client.get(f"/tasks/{task.pk}/save/").status_code == 405


def test_save_without_htmx_redirects_back_to_the_workspace(client, task):
    response = client.post(
        f"/tasks/{task.pk}/save/", {"version": "1", "turns.2.factuality": "correct"}
    )
    assert response.status_code == 302 and response["Location"] == "/projects/support/label/"
    assert Annotation.objects.get(task=task).version == 2


def test_a_conflict_leaves_the_page_at_its_stale_version(client, task):
    client.post(
        f"/tasks/{task.pk}/save/", {"version": "1", "turns.2.factuality": "correct"}, headers=HTMX
    )
    response = client.post(
        f"/tasks/{task.pk}/save/",
        {"version": "1", "turns.2.factuality": "fabricated"},
        headers=HTMX,
    )
    # No out-of-band version: the next change from that page is refused as well.
    assert response.status_code == 409 and "annotation-version" not in response.content.decode()


def test_an_unchanged_rewrite_is_not_saved_as_an_answer(client, task):
    response = client.post(
        f"/tasks/{task.pk}/save/",
        {"version": "1", "turns.2.corrected_response": "assistant says 2\r\n"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert services.annotation_answers(Annotation.objects.get(task=task))["turns"] == {}


def _beacon_client(task, annotator):
    """A client that checks CSRF as browsers make Django do, with the page's token."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(annotator)
    page = browser.get("/projects/support/label/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    return browser, token


def test_a_beacon_posts_the_form_with_its_csrf_field_and_is_saved(task, annotator):
    browser, token = _beacon_client(task, annotator)
    # navigator.sendBeacon(url, new FormData(form)): multipart, no htmx header.
    response = browser.post(
        f"/tasks/{task.pk}/save/",
        {"csrfmiddlewaretoken": token, "version": "1", "turns.2.rationale": "Typed, then left."},
    )
    assert response.status_code == 302
    annotation = Annotation.objects.get(task=task)
    assert annotation.version == 2
    assert services.annotation_answers(annotation)["turns"] == {
        "2": {"rationale": "Typed, then left."}
    }


def test_a_beacon_without_the_csrf_field_is_refused(task, annotator):
    browser, _token = _beacon_client(task, annotator)
    response = browser.post(f"/tasks/{task.pk}/save/", {"version": "1"})
    assert response.status_code == 403 and Annotation.objects.get(task=task).version == 1


def _stale_beacon(client, task, annotator, query: str = ""):
    """Another tab saves; then the page, still at version 1, sends its beacon."""
    client.post(
        f"/tasks/{task.pk}/save/", {"version": "1", "turns.2.factuality": "correct"}, headers=HTMX
    )
    browser, token = _beacon_client(task, annotator)
    return browser.post(
        f"/tasks/{task.pk}/save/{query}",
        {"csrfmiddlewaretoken": token, "version": "1", "turns.2.factuality": "fabricated"},
    )


def test_a_beacon_with_a_stale_version_is_refused_not_applied(client, task, annotator):
    response = _stale_beacon(client, task, annotator)
    assert response.status_code == 409
    assert "changed elsewhere" in response.content.decode()
    annotation = Annotation.objects.get(task=task)
    assert annotation.version == 2
    assert services.annotation_answers(annotation)["turns"] == {"2": {"factuality": "correct"}}


def test_a_beacon_marked_as_such_gets_a_bare_204_once_saved(task, annotator):
    browser, token = _beacon_client(task, annotator)
    response = browser.post(
        f"/tasks/{task.pk}/save/?beacon=1",
        {"csrfmiddlewaretoken": token, "version": "1", "turns.2.rationale": "Left the tab."},
    )
    assert response.status_code == 204 and response.content == b""
    annotation = Annotation.objects.get(task=task)
    assert services.annotation_answers(annotation)["turns"] == {"2": {"rationale": "Left the tab."}}


def test_a_stale_beacon_marked_as_such_gets_409_with_the_reason_and_changes_nothing(
    client, task, annotator
):
    response = _stale_beacon(client, task, annotator, "?beacon=1")
    assert response.status_code == 409 and "changed elsewhere" in response.content.decode()
    annotation = Annotation.objects.get(task=task)
    assert services.annotation_answers(annotation)["turns"] == {"2": {"factuality": "correct"}}
