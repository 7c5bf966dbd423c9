import pytest
from django.db import connection

from accounts.models import User
from tests.helpers import requires_postgres


@requires_postgres
@pytest.mark.django_db
def test_a_statement_a_connection_runs_often_is_prepared_on_postgresql():
    """What the workspace's speed relies on (DB_PREPARED_STATEMENTS, on by default)."""
    user = User.objects.create_user(username="prepared-test")

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['%"accounts_user"."username" = $1%'],
            )
            return cursor.fetchone()[0]

    before = prepared()
    for _ in range(6):
        assert User.objects.filter(username=user.username).first() == user
    assert prepared() == before + 1
