"""A TCP proxy that a test can cut and restore: the machine's Redis or RabbitMQ "goes away" for the processes that
connect through it, while every other test keeps using the real server directly.

``cut()`` drops every open connection abruptly (RST, as when a server process dies) and then either refuses new
connections (each is reset at once, as by a server that is down) or blackholes them (they are accepted and never
answered: a network partition). ``stall()`` keeps every connection open and forwards nothing (a server that
stops answering without closing anything: stuck, or behind a partition). The port stays bound throughout: closing it
would let another process on the machine take it (it is an ephemeral port) and the proxy could not come back on the
URL the processes were given.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Literal

CutMode = Literal["refuse", "blackhole"]

#: How often the accept loop looks up from accept() to see whether it was cut or closed.
_ACCEPT_POLL_SECONDS = 0.1
_CHUNK = 64 * 1024


def _abort(sock: socket.socket) -> None:
    """Close with a reset, not a polite FIN: the peer sees what it sees when a server is killed."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream_host:upstream_port``, one pair of pump threads per connection."""

    def __init__(self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.port = 0
        #: Connections accepted in total, and how many were accepted while cut (blackholed).
        self.accepted = 0
        self.blackholed = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._mode: CutMode | None = None
        self._closed = False
        #: Clear while stalled: the pumps hold what they read until it is set again.
        self._flowing = threading.Event()
        self._flowing.set()

    # -- life cycle -----------------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._stop_listening()
        self._drop_all()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    def url(self, scheme: str, userinfo: str = "", path: str = "") -> str:
        """``scheme://[userinfo@]127.0.0.1:<port>[path]``: the upstream's URL with the proxy in its place."""
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}{self.listen_host}:{self.port}{path}"

    # -- faults ---------------------------------------------------------------------------------------

    def cut(self, mode: CutMode = "refuse") -> int:
        """Drop every open connection; then refuse (or blackhole) new ones until restore(). Returns how many
        connections were dropped."""
        with self._lock:
            self._mode = mode
        return self._drop_all()

    def stall(self) -> None:
        """Forward nothing until restore(): open connections stay open and unanswered, new ones are accepted and
        never answered."""
        with self._lock:
            self._mode = "blackhole"
            self._flowing.clear()

    def restore(self) -> None:
        """Forward again, on the same port."""
        with self._lock:
            self._mode = None
            held, self._held = self._held, []
            self._flowing.set()
        for sock in held:
            _abort(sock)  # a partition that heals does not revive connections the peers have given up on

    @contextlib.contextmanager
    def outage(self, seconds: float, mode: CutMode = "refuse") -> Iterator[int]:
        """``with proxy.outage(6) as dropped:`` cut now (``dropped`` connections), restore ``seconds`` later; the
        body runs while cut."""
        dropped = self.cut(mode)
        ends = time.monotonic() + seconds
        try:
            yield dropped
        finally:
            time.sleep(max(0.0, ends - time.monotonic()))
            self.restore()

    # -- plumbing -------------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen(128)
        listener.settimeout(_ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, args=(listener,), name=f"tcp-proxy-{self.port}")
        thread.daemon = True
        with self._lock:
            self._listener, self._accept_thread = listener, thread
        thread.start()

    def _stop_listening(self) -> None:
        with self._lock:
            listener, thread = self._listener, self._accept_thread
            self._listener = self._accept_thread = None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _drop_all(self) -> int:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _abort(sock)
        # Client and upstream side of each connection are both in the set.
        return len(sockets) // 2

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut() or close()
            client.settimeout(None)
            with self._lock:
                self.accepted += 1
                if self._mode == "blackhole":
                    self.blackholed += 1
                    self._held.append(client)
                    continue
                refused = self._mode == "refuse"
            if refused:
                _abort(client)
                continue
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _abort(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._mode is not None or self._closed:
                # Cut between accept() and here: this connection belongs to the outage.
                _abort(client)
                _abort(upstream)
                return
            self._open.update((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        # One side ended (or the proxy was cut): end the other, and forget both.
        with self._lock:
            known = source in self._open
            self._open.discard(source)
            self._open.discard(target)
        if known:
            # shutdown() (not close() alone) wakes the other pump thread blocked in recv() on ``target``.
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
