"""Outside probe F-small: /readyz on a RabbitMQ broker opened an AMQP connection (a TCP and AMQP handshake and a
login, each logged by RabbitMQ) per probe. The probe keeps one connection and asks on it; a lost one is opened again.
Counted through a TCP relay in front of the machine's RabbitMQ."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentinel.ops import endpoints
from sentinel.settings import Settings
from tests.conftest import free_port
from tests.support.served_services import services_as_served


class CountingRelay:
    """A TCP relay to RabbitMQ (127.0.0.1:5672) that counts the connections made through it and can cut them."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = port
        self.accepted = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", 5672))
            self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for side in (source, target):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Every connection through the relay lost, as in a broker restart."""
        for side in self._open:
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
        self._open.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@contextlib.contextmanager
def relay() -> Iterator[CountingRelay]:
    running = CountingRelay(free_port())
    try:
        yield running
    finally:
        running.close()


def test_readiness_asks_rabbitmq_on_one_kept_connection(tmp_path: Path) -> None:
    with relay() as counting:
        api = FastAPI()
        api.include_router(endpoints.router)
        api.state.services = services_as_served(
            Settings(data_dir=tmp_path, broker_url=f"amqp://guest:guest@127.0.0.1:{counting.port}/%2F")
        )
        with TestClient(api) as http:
            answers = [http.get("/readyz") for _ in range(5)]
            assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
            assert counting.accepted == 1
            # Lost (a broker restart): the next probe connects again, and is still ready.
            counting.cut()
            again = http.get("/readyz")
            assert again.status_code == 200, again.text
            assert counting.accepted == 2
    details = [a.json()["checks"]["broker"]["detail"] for a in answers]
    assert details[0].endswith("accepted a connection") and details[1].endswith("answered on the probe's connection")
