from celery import shared_task

from annotation import imports, jobs, queue

# Every task is thin and idempotent (acks_late: it may run twice); the work is in services.
job_task = shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=jobs.TRANSIENT,
    retry_backoff=True,
    max_retries=3,
)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def release_expired_leases() -> int:
    """Return tasks whose lease ran out to the pool (Celery beat runs this every minute)."""
    return queue.release_expired_leases()


@job_task
def import_file(job_id: int) -> str:
    """Import an uploaded file (a finished job is left alone)."""
    return imports.run_import_job(job_id).status


@job_task
def distribute_assignments(job_id: int) -> str:
    """Carry out a lead's bulk assignment (a finished job is left alone)."""
    return queue.run_assignment_job(job_id).status
