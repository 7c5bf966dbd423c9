"""Running a background job row (an import, an assignment) safely, whoever runs it."""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError
from django.db.models import Model
from django.utils import timezone

from annotation.models import JobStatus

logger = logging.getLogger(__name__)
J = TypeVar("J", bound=Model)
# Errors worth a retry (the database went away or restarted); anything else fails the job.
TRANSIENT = (OperationalError, InterfaceError)


def run(model: type[J], job_id: int, work: Callable[[int], J], *, failed: str, **claim_fields) -> J:
    """Claim a queued (or interrupted) job and do its work; a finished one is left alone.

    A transient database error is raised for the task to retry, the job still "running".
    Any other error is logged and marks the job failed with `failed` (which may use
    {error}); it is not raised, so an eager Celery call does not fail the request too.
    """
    claimed = model.objects.filter(
        pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.RUNNING, **claim_fields)
    if not claimed:
        return model.objects.get(pk=job_id)
    try:
        return work(job_id)
    except TRANSIENT:
        raise
    except Exception as exc:
        logger.exception("%s %s failed", model.__name__, job_id)
        model.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            message=failed.format(error=exc),
            finished_at=timezone.now(),
        )
        return model.objects.get(pk=job_id)
