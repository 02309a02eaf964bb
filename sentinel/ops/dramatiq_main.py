"""``sentinel worker``'s dramatiq: dramatiq's own command line, with its main process logging in
``SENTINEL_LOG_FORMAT`` (its worker and fork processes reformat their own handlers once they boot): with ``json``,
every line the worker writes is a JSON object, as a log pipeline's parser needs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from dramatiq import cli


def main() -> int:
    from sentinel.settings import get_settings
    from sentinel.telemetry.logging import quiet_libraries, reformat_handlers

    log_format = get_settings().log_format

    def in_format(setup: Callable[..., Any]) -> Callable[..., Any]:
        def set_up(*args: Any, **kwargs: Any) -> Any:
            logger = setup(*args, **kwargs)
            reformat_handlers(log_format)
            quiet_libraries()
            return logger

        return set_up

    # Looked up as module globals by dramatiq's main and by the processes it forks, when each sets its logging up:
    # the main process, the worker processes and the fork processes (the metrics server) all write in the format.
    for name in ("setup_parent_logging", "setup_worker_logging", "setup_fork_logging"):
        setattr(cli, name, in_format(getattr(cli, name)))
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
