import pytest

from annotation import queue
from projects import cache, services
from projects.models import LabelSchema
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]


def test_a_schema_in_use_is_served_from_the_cache(project, annotator, django_assert_num_queries):
    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)  # puts the schema in use
    schema = LabelSchema.objects.current_for(project)
    assert schema.in_use
    first = cache.schema_questions(schema)
    cache.schema_payload(schema)
    with django_assert_num_queries(0):
        assert [q.key for q in cache.schema_questions(schema)] == [q.key for q in first]
        assert cache.schema_payload(schema)["version"] == schema.version


def test_a_schema_not_in_use_is_read_fresh_after_an_edit(project, owner):
    schema = LabelSchema.objects.current_for(project)
    assert not schema.in_use
    cache.schema_questions(schema)
    services.save_schema(
        project=project,
        actor=owner,
        questions=[{"key": "ok", "prompt": "OK?", "kind": "boolean", "roles": ["assistant"]}],
    )
    assert [q.key for q in cache.schema_questions(schema)] == ["ok"]
    assert [q["key"] for q in cache.schema_payload(schema)["questions"]] == ["ok"]


def test_questions_in_use_are_kept_in_the_process_even_when_the_shared_cache_is_emptied(
    project, annotator, django_assert_num_queries
):
    from django.core.cache import cache as shared

    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)
    schema = LabelSchema.objects.current_for(project)
    first = cache.schema_questions(schema)
    shared.delete(cache._key("questions", schema))
    with django_assert_num_queries(0):
        assert cache.schema_questions(schema) is first  # the same list, not unpickled again


def test_the_process_keeps_a_bounded_number_of_schemas(monkeypatch, project, annotator):
    monkeypatch.setattr(cache._local, "size", 1)
    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)
    schema = LabelSchema.objects.current_for(project)
    cache.schema_questions(schema)
    other = services.create_project(creator=project.created_by, slug="other", name="Other")
    other_schema = LabelSchema.objects.current_for(other)
    other_schema.in_use = True
    cache.schema_questions(other_schema)
    assert len(cache._local) == 1 and next(iter(cache._local)).startswith(
        f"schema-questions:{other_schema.pk}:"
    )


def test_questions_kept_in_the_process_expire_after_the_local_ttl(monkeypatch, project, annotator):
    ConversationFactory(project=project)
    queue.claim_next_task(project=project, user=annotator)
    schema = LabelSchema.objects.current_for(project)
    monkeypatch.setattr(cache._local, "ttl", -1)  # expired as soon as kept
    first = cache.schema_questions(schema)
    assert cache.schema_questions(schema) is not first  # read again from the shared cache
