"""The delivery face: the outbox relay and the Celery workers that attempt deliveries."""
