"""The weekly digest's beat task; relationships.tasks imports it so Celery registers it."""

from celery import shared_task

from .services import digest


@shared_task(name="relationships.send_digests")
def send_digests():
    """Daily: send each opted-in user's digest once a week (services/digest.py decides who is due)."""
    return digest.send_digests()
