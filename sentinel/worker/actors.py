"""Every actor of every domain; ``dramatiq sentinel.worker.actors`` runs them all."""

from sentinel.evaluation import tasks as evaluation_tasks  # noqa: F401
from sentinel.jobs import tasks as job_tasks  # noqa: F401
from sentinel.webhooks import tasks as webhook_tasks  # noqa: F401
