import pytest

from annotation.models import Flag
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def flags(project, annotator):
    first, second = ConversationFactory.create_batch(2, project=project)
    return (
        Flag.objects.create(
            project=project, conversation=first, raised_by=annotator, kind="pii", note="An email."
        ),
        Flag.objects.create(
            project=project, conversation=second, raised_by=annotator, kind="offensive"
        ),
    )


def test_the_lead_sees_open_flags_on_the_dashboard(client, owner, flags):
    client.force_login(owner)
    html = client.get("/projects/support/dashboard/").content.decode()
    card = html[html.index('id="open-flags"') :]
    assert 'Open flags <span class="muted">(2)</span>' in card
    pii = card[card.index(f'id="flag-{flags[0].pk}"') :].split("</tr>")[0]
    assert flags[0].conversation.external_id in pii and "Personal data" in pii
    assert "An email." in pii and "<td>anna</td>" in pii and " ago</time>" in pii
    assert f'hx-post="/flags/{flags[0].pk}/resolve/"' in pii


def test_reviewers_do_not_get_the_flags_card(client, reviewer, flags):
    client.force_login(reviewer)
    assert 'id="open-flags"' not in client.get("/projects/support/dashboard/").content.decode()


def test_resolving_a_flag_returns_the_card_without_it(client, owner, flags):
    client.force_login(owner)
    response = client.post(f"/flags/{flags[0].pk}/resolve/", headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card open-flags" id="open-flags"')
    assert "<html" not in html
    assert f'id="flag-{flags[0].pk}"' not in html and f'id="flag-{flags[1].pk}"' in html
    assert f"Resolved the flag on {flags[0].conversation.external_id}." in html
    flags[0].refresh_from_db()
    assert flags[0].resolved_by == owner and flags[0].resolved_at is not None


def test_resolving_without_htmx_goes_back_to_the_dashboard(client, owner, flags):
    client.force_login(owner)
    response = client.post(f"/flags/{flags[1].pk}/resolve/")
    assert response.status_code == 302 and response["Location"] == "/projects/support/dashboard/"
    assert Flag.objects.filter(resolved_at__isnull=True).get() == flags[0]


def test_members_who_do_not_lead_cannot_resolve(client, annotator, reviewer, flags):
    for user in (annotator, reviewer):
        client.force_login(user)
        assert client.post(f"/flags/{flags[0].pk}/resolve/", headers=HTMX).status_code == 403
    assert not Flag.objects.filter(resolved_at__isnull=False).exists()


def test_outsiders_and_unknown_flags_get_404(client, owner, outsider, flags):
    client.force_login(outsider)
    assert client.post(f"/flags/{flags[0].pk}/resolve/").status_code == 404
    client.force_login(owner)
    assert client.post("/flags/999999/resolve/").status_code == 404
    assert not Flag.objects.filter(resolved_at__isnull=False).exists()


def test_resolve_is_post_only(client, owner, flags):
    client.force_login(owner)
    assert client.get(f"/flags/{flags[0].pk}/resolve/").status_code == 405
