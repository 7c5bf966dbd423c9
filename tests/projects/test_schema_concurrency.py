"""Two leads save the schema at the same moment, on PostgreSQL: the later one is refused."""

import time

import pytest
from django.db import connections, transaction

from projects import schemas, services
from projects.exceptions import Conflict
from projects.models import LabelSchema
from tests.helpers import requires_postgres, start_in_thread


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_use", [True, False], ids=["next-version", "in-place"])
def test_a_save_that_waited_for_another_from_the_same_revision_is_refused(project, owner, in_use):
    LabelSchema.objects.filter(project=project).update(in_use=in_use)
    opened = LabelSchema.objects.current_for(project)
    revision = schemas.revision(opened)
    questions = schemas.schema_as_dict(opened)["questions"]
    result: dict = {}
    with transaction.atomic():
        # The first lead's save holds the lock on the current version until it commits.
        first = services.save_schema(
            project=project, actor=owner, questions=questions[:1], revision=revision
        )
        waiting = start_in_thread(
            lambda: services.save_schema(
                project=project, actor=owner, questions=questions[1:2], revision=revision
            ),
            Conflict,
            result,
        )
        time.sleep(0.5)  # the second save now waits for that lock
        assert "outcome" not in result
    waiting.join(timeout=30)
    connections.close_all()

    assert isinstance(result["outcome"], Conflict), result
    current = LabelSchema.objects.current_for(project)
    assert current.pk == first.pk
    assert schemas.schema_as_dict(current)["questions"] == questions[:1]
    expected = [1, 2] if in_use else [1]
    assert sorted(
        LabelSchema.objects.filter(project=project).values_list("version", flat=True)
    ) == (expected)
