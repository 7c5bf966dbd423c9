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
