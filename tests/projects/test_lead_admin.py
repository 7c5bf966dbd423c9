import pytest
from django.core.management import CommandError, call_command

from annotation.models import Conversation
from tests.factories import ConversationFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_a_lead_with_admin_access_sees_and_fixes_only_their_projects(client, project, owner):
    mine = ConversationFactory(project=project, external_id="mine-1")
    ConversationFactory(project=ProjectFactory(), external_id="theirs-1")
    call_command("grant_lead_admin", owner.username)
    client.force_login(owner)

    listing = client.get("/admin/annotation/conversation/").content.decode()
    assert "mine-1" in listing and "theirs-1" not in listing
    theirs = Conversation.objects.get(external_id="theirs-1")
    assert client.get(f"/admin/annotation/conversation/{theirs.pk}/change/").status_code == 302

    turn = mine.turns.get(index=1)
    response = client.get(f"/admin/annotation/turn/{turn.pk}/change/")
    assert response.status_code == 200


def test_annotators_without_admin_access_are_sent_to_the_admin_login(client, project, annotator):
    client.force_login(annotator)
    response = client.get("/admin/annotation/conversation/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_granting_admin_to_an_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match='No user named "ghost"'):
        call_command("grant_lead_admin", "ghost")


def test_a_schema_in_use_is_shown_in_the_admin_but_cannot_be_changed(
    client, project, owner, annotator
):
    from annotation import queue
    from projects.models import LabelSchema

    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)  # answers now depend on it
    schema = LabelSchema.objects.current_for(project)
    question = schema.questions.first()
    call_command("grant_lead_admin", owner.username)
    client.force_login(owner)

    page = client.get(f"/admin/projects/labelschema/{schema.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    url = f"/admin/projects/question/{question.pk}/change/"
    response = client.post(url, {"key": question.key, "prompt": "Re-interpreted?"})
    assert response.status_code == 403
    question.refresh_from_db()
    assert question.prompt != "Re-interpreted?"
    assert (
        client.post(f"/admin/projects/question/{question.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert schema.questions.filter(pk=question.pk).exists()
