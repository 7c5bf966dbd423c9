"""A real Celery worker process, on Redis, against the test database."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from annotation import tasks
from annotation.models import Conversation, ImportJob, Task
from config.celery import app as celery_app
from tests.factories import claimed_task
from tests.helpers import REDIS_URL, requires_postgres, requires_redis

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "default,imports,exports,distribution,maintenance"

pytestmark = [requires_redis, requires_postgres, pytest.mark.celery_worker]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, tmp_path, settings):
    """Start `celery worker` on the test database; stop it afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "worker-test"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    celery_app.control.purge()
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            QUEUES,
            "-n",
            name,
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[name], timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the worker did not start:\n" + (tmp_path / "worker.log").read_text())
        yield name
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        connection.close()


def test_a_real_worker_returns_expired_leases_to_the_pool(worker, project, annotator):
    task = claimed_task(project, annotator)
    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))

    result = tasks.release_expired_leases.delay()

    assert result.get(timeout=60) == 1
    task.refresh_from_db()
    assert task.status == Task.Status.EXPIRED
    assert Task.objects.filter(conversation=task.conversation, status=Task.Status.OPEN).count() == 1
    # Routed to its own queue, so maintenance never waits behind an import or export.
    assert celery_app.amqp.router.route({}, tasks.release_expired_leases.name)["queue"].name == (
        "maintenance"
    )


def test_a_real_worker_runs_an_uploaded_import_to_the_end(worker, project, owner, api):
    client = api(owner)
    data = b"".join(
        orjson.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": f"Question {i}"}]}) + b"\n"
        for i in range(25)
    )
    response = client.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("chats.jsonl", data)},
        format="multipart",
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued"  # the worker, not this process, runs it

    deadline = time.monotonic() + 60
    state = client.get(response.json()["url"]).json()
    while state["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = client.get(response.json()["url"]).json()

    assert state["status"] == "succeeded", state
    assert (state["conversations"], state["turns"], state["processed"]) == (25, 25, len(data))
    assert Conversation.objects.filter(project=project).count() == 25
    assert ImportJob.objects.get(pk=response.json()["id"]).attempts == 1
