"""Two leads save the schema at the same moment, on PostgreSQL: the later one is refused."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from projects import schemas, services
from projects.exceptions import Conflict
from projects.models import LabelSchema
from tests.helpers import requires_postgres


def _save_in_thread(project, owner, questions, revision, result: dict) -> None:
    try:
        services.save_schema(project=project, actor=owner, questions=questions, revision=revision)
        result["outcome"] = "saved"
    except Conflict as exc:
        result["outcome"] = exc
    except Exception as exc:  # surfaced by the assertion below
        result["outcome"] = repr(exc)
    finally:
        connection.close()


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
        waiting = threading.Thread(
            target=_save_in_thread, args=(project, owner, questions[1:2], revision, result)
        )
        waiting.start()
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
