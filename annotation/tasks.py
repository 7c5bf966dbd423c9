from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotation import imports, services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def release_expired_leases() -> int:
    """Return tasks whose lease ran out to the pool (Celery beat runs this every minute)."""
    return services.release_expired_leases()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def import_file(job_id: int) -> str:
    """Import an uploaded file (idempotent: a finished job is left alone)."""
    return imports.run_import_job(job_id).status
