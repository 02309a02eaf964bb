"""A vision judge's answer (a paid model call) is not lost to a database blip of a few seconds (a sibling of outside
probe F2): the vote waits for the database and is stored once it is back, instead of being dropped after a second
and a half of tries, which left the sweep to ask (and pay) the model again. Against PostgreSQL behind a proxy that
the fake model cuts just before it answers, restored OUTAGE_SECONDS later."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import wait_for_started
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import own_postgres_database
from tests.faults.conftest import wait_until
from tests.judges.test_vision_judges import GOOD, KEY, vision_judge_file
from tests.judges.test_vision_vote_batching import RUBRIC, api_key
from tests.support.tcp_proxy import TcpProxy

__all__ = ["api_key"]

pytestmark = pytest.mark.integration

#: Longer than the tries a vote was given before (0.2 + 0.4 + 0.8 s), far shorter than the judge's limit.
OUTAGE_SECONDS = 5.0


class CutsFirst:
    """The fake model's app, cutting the database off (restored OUTAGE_SECONDS later) before its first answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.proxy: TcpProxy | None = None
        self.restored = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy, self.proxy = self.proxy, None
        if scope["type"] == "http" and proxy is not None:
            proxy.cut()
            timer = threading.Timer(OUTAGE_SECONDS, lambda: (proxy.restore(), self.restored.set()))
            timer.daemon = True
            timer.start()
        await self.app(scope, receive, send)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[EvaluationService, TcpProxy, CutsFirst, VisionScript]]:
    script = VisionScript(api_key=KEY)
    model = CutsFirst(chat.create_app(script))
    with ExitStack() as stack:
        url = stack.enter_context(serve(model)).url  # type: ignore[arg-type]
        folder, rubrics = tmp_path / "judges", tmp_path / "rubrics"
        folder.mkdir()
        rubrics.mkdir()
        vision_judge_file(folder, "eye", url, timeout_seconds=60)
        (rubrics / "vision-only.yaml").write_text(RUBRIC)
        database = stack.enter_context(own_postgres_database())
        parts = urlsplit(database)
        proxy = stack.enter_context(TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432))
        settings = Settings(  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            judges_dir=str(folder),
            rubrics_dir=rubrics,
            database_url=proxy.url("postgresql", parts.username or "", parts.path),
        )
        service = EvaluationService(build_services(settings))
        try:
            yield service, proxy, model, script
        finally:
            proxy.restore()
            service.services.engine.dispose()


def test_a_vision_vote_waits_out_a_database_blip_and_is_stored_once(stack) -> None:
    service, proxy, model, script = stack
    evaluation = service.submit(service.validate("vision-only", {}, {"image": GOOD}))
    model.proxy = proxy
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    assert model.restored.wait(60)

    def judged() -> bool:
        return service.get(evaluation.id)[0].status == EvaluationStatus.DONE

    wait_until(judged, 60, "the vote stored once the database is back", every=0.2)
    done, votes = service.get(evaluation.id)
    assert [(v.judge, v.passed) for v in votes] == [("eye", True)], done.summary
    # The model was asked (and paid) once.
    assert script.received == 1
