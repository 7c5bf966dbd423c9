from celery import shared_task

from annotation import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def release_expired_leases() -> int:
    """Return tasks whose lease ran out to the pool (Celery beat runs this every minute)."""
    return services.release_expired_leases()
