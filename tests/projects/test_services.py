import pytest

from projects import services
from projects.exceptions import InvalidInput, NotAllowed
from projects.models import LabelSchema, Membership, Question
from projects.taxonomy import DEFAULT_QUESTIONS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_new_project_is_led_by_its_creator_and_gets_the_default_taxonomy():
    creator = UserFactory()
    project = services.create_project(creator=creator, slug="helpdesk", name="Helpdesk")
    assert Membership.objects.get(project=project, user=creator).role == "lead"
    schema = LabelSchema.objects.current_for(project)
    assert schema.version == 1
    keys = list(schema.questions.values_list("key", flat=True))
    assert keys == [q["key"] for q in DEFAULT_QUESTIONS]
    required = set(schema.questions.filter(required=True).values_list("key", flat=True))
    assert required == {"observed_behavior", "expected_behavior", "factuality"}
    prompt_traits = schema.questions.get(key="prompt_traits")
    assert prompt_traits.roles == ["user"] and prompt_traits.kind == "multi"
    overall = schema.questions.get(key="overall")
    assert (overall.scope, overall.kind, overall.rating_min, overall.rating_max) == (
        "conversation",
        "rating",
        1,
        5,
    )


def test_default_options_have_one_hotkey_each_within_a_question():
    for question in DEFAULT_QUESTIONS:
        hotkeys = [o["hotkey"] for o in question["options"]]
        assert len(hotkeys) == len(set(hotkeys)), question["key"]


def test_duplicate_slug_is_refused_with_a_clear_message(project):
    with pytest.raises(InvalidInput, match='slug "support" already exists'):
        services.create_project(creator=UserFactory(), slug="support", name="Again")


def test_lead_adds_a_member_and_changes_their_role(project, owner):
    newcomer = UserFactory(username="nadia")
    membership, created = services.set_membership(
        project=project, actor=owner, username="nadia", role="annotator"
    )
    assert created and membership.user == newcomer
    membership, created = services.set_membership(
        project=project, actor=owner, username="nadia", role="reviewer"
    )
    assert not created
    assert Membership.objects.get(project=project, user=newcomer).role == "reviewer"


def test_only_leads_change_membership(project, annotator, reviewer):
    UserFactory(username="nadia")
    for actor in (annotator, reviewer):
        with pytest.raises(NotAllowed):
            services.set_membership(project=project, actor=actor, username="nadia", role="lead")
    assert not Membership.objects.filter(user__username="nadia").exists()


def test_unknown_user_and_unknown_role_are_named(project, owner):
    with pytest.raises(InvalidInput, match='No active user named "ghost"'):
        services.set_membership(project=project, actor=owner, username="ghost", role="annotator")
    UserFactory(username="nadia")
    with pytest.raises(InvalidInput, match='Unknown role "boss"'):
        services.set_membership(project=project, actor=owner, username="nadia", role="boss")


def test_the_last_lead_cannot_step_down(project, owner):
    with pytest.raises(InvalidInput, match="at least one lead"):
        services.set_membership(
            project=project, actor=owner, username=owner.username, role="annotator"
        )
    assert Membership.objects.get(project=project, user=owner).role == "lead"


def test_a_lead_can_step_down_when_another_lead_remains(project, owner, reviewer):
    services.set_membership(project=project, actor=owner, username=reviewer.username, role="lead")
    services.set_membership(project=project, actor=owner, username=owner.username, role="annotator")
    assert Membership.objects.get(project=project, user=owner).role == "annotator"


def test_only_leads_update_a_project(project, owner, annotator):
    with pytest.raises(NotAllowed):
        services.update_project(project=project, actor=annotator, name="Hijacked")
    services.update_project(project=project, actor=owner, name="Renamed", overlap=3)
    project.refresh_from_db()
    assert (project.name, project.overlap) == ("Renamed", 3)


def test_create_schema_keeps_question_order(project):
    schema = services.create_schema(
        project=project,
        version=2,
        questions=[
            {"key": "b", "prompt": "B", "kind": "boolean", "roles": ["assistant"]},
            {"key": "a", "prompt": "A", "kind": "text", "roles": ["user"]},
        ],
    )
    assert list(Question.objects.filter(schema=schema).values_list("key", flat=True)) == ["b", "a"]
    assert LabelSchema.objects.current_for(project) == schema
