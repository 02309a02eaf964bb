"""An answer whose status line and headers came, and whose body then broke off (the connection closed or reset
before the promised bytes): raised by the transport (``sentinel.net.transport``) while it reads the body, so the
caller still knows the status. For an image provider a 200 that broke off is a generation made and billed, not a
provider that "could not be reached"."""

from __future__ import annotations

import httpx


class AnswerBrokeOff(httpx.RemoteProtocolError):
    """The answer's body broke off after ``received`` bytes of ``expected`` (None: no Content-Length was given)."""

    def __init__(
        self, status_code: int, received: int, expected: int | None, cause: str, request: httpx.Request
    ) -> None:
        of = f" of {expected}" if expected is not None else ""
        super().__init__(
            f"the HTTP {status_code} answer broke off after {received}{of} bytes ({cause})", request=request
        )
        self.status_code = status_code
        self.received = received
        self.expected = expected

    @property
    def progress(self) -> str:
        """ "N of M bytes" (or "N bytes" without a Content-Length)."""
        return f"{self.received} of {self.expected} bytes" if self.expected is not None else f"{self.received} bytes"
