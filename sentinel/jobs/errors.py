"""The jobs domain's errors, turned into JSON by the one handler in :mod:`sentinel.api.app`."""

from __future__ import annotations

from sentinel.errors import SentinelError


class JobFinished(SentinelError):
    """A cancel of a job that had already ended on its own (done, failed, expired): there is nothing left to stop,
    and answering as if the cancel had ended it would misreport how it ended."""

    status_code = 409
    error_type = "job_finished"
