"""A RabbitMQ virtual host of a test's own on the machine's server, so its queues never meet another run's, and
nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

#: The machine's RabbitMQ, without a virtual host.
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQ_USER = os.environ.get("TEST_RABBITMQ_USER", "guest")


def rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")


def rabbitmq_address() -> tuple[str, int, str]:
    """(host, port, user:password) of the machine's RabbitMQ."""
    parts = urlsplit(RABBITMQ_URL)
    userinfo = parts.netloc.rpartition("@")[0]
    return parts.hostname or "127.0.0.1", parts.port or 5672, userinfo


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A new virtual host's name, quoted for a URL path; deleted (with its queues) afterwards."""
    vhost = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, RABBITMQ_USER, ".*", ".*", ".*")
        yield quote(vhost, safe="")
    finally:
        rabbitmqctl("delete_vhost", vhost)
