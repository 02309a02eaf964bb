"""Services as `sentinel serve` holds them when it starts answering."""

from __future__ import annotations

from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services


def services_as_served(settings: Settings) -> Services:
    """The services with their database engine built (and the database migrated), as `sentinel serve` builds it
    before it listens. Built lazily, the engine was made inside the first /readyz probe's database check, and the
    migrations counted against its 2 s deadline: on a loaded machine a healthy database read as "no answer"."""
    services = build_services(settings)
    services.engine  # noqa: B018  (built now, as at start-up)
    return services
