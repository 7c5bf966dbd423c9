import os
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts import services as account_services

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

requires_postgres = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)",
)
requires_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs Redis for a real Celery worker: set REDIS_URL (CI does)"
)


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        key = account_services.create_api_token(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def start_in_thread(call, refusal: type[Exception], result: dict) -> threading.Thread:
    """Run call() on its own connection in a thread started now; result["outcome"] becomes
    "done", the `refusal` raised, or the repr of anything else (for the test to show)."""

    def run() -> None:
        try:
            call()
            result["outcome"] = "done"
        except refusal as exc:
            result["outcome"] = exc
        except Exception as exc:  # surfaced by the test's assertion
            result["outcome"] = repr(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
