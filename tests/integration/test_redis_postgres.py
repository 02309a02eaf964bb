"""The production shape: API process + separate dramatiq worker process, Redis broker, PostgreSQL store."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import Message
from PIL import Image
from sqlmodel import Session, func, select

from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, Vote
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import FIXTURES, REDIS_URL, SENTINEL, RunningProcess, clean_env, png_bytes, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def production_env(postgres_url, redis_namespace, tmp_path_factory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("prod")
    return clean_env(
        SENTINEL_DATABASE_URL=postgres_url,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=redis_namespace,
        SENTINEL_DATA_DIR=str(data_dir),
    )


@pytest.fixture(scope="module")
def api(production_env, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    server, base = start_server(production_env, logs / "api.log")
    yield base
    server.stop()


def start_worker(env: dict[str, str], log: Path) -> RunningProcess:
    return RunningProcess([SENTINEL, "worker", "--processes", "1", "--threads", "4"], env, log)


def submit(base: str, image: bytes, task: str = "text-to-image", params: str = "{}") -> dict:
    response = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": task, "params": params},
        files={"image": ("sign.png", image, "image/png")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/evaluations/{response.json()['id']}"
    return response.json()


def wait_for_verdict(base: str, evaluation_id: str, seconds: float = 40) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/v1/evaluations/{evaluation_id}?wait=10", timeout=30).json()
        if body["status"] == "done":
            return body
    raise AssertionError(f"no verdict for {evaluation_id} within {seconds} s")


def test_verdict_through_redis_worker_and_postgres(api, production_env, tmp_path) -> None:
    worker = start_worker(production_env, tmp_path / "worker.log")
    try:
        flat = io.BytesIO()
        Image.new("RGB", (512, 512), (128, 128, 128)).save(flat, "PNG")
        created = submit(api, flat.getvalue(), params='{"width": 512, "height": 512}')
        assert created["status"] == "judging"
        assert set(created["judges_expected"]) == {"pixels", "text"}
        done = wait_for_verdict(api, created["id"])
        assert done["verdict"] == "red", done
        assert "not-blank" in done["critical_failures"]
        assert "blank or near-uniform" in done["summary"]
        assert {j["judge"] for j in done["judges"]} == {"pixels", "text"}
        image = httpx.get(api + done["image"]["url"])
        assert image.headers["content-type"] == "image/png"
        assert image.content == flat.getvalue()
    finally:
        worker.stop()
    assert "Traceback" not in worker.output(), worker.output()


def test_a_product_touching_the_frame_edge_is_judged_on_postgres(api, production_env, tmp_path) -> None:
    # Its layout vote measures the share of the product's outline along the edge as a NumPy number: PostgreSQL's JSON
    # columns must store it as the number it is (it once failed every try, and the votes were lost at the deadline).
    worker = start_worker(production_env, tmp_path / "worker.log")
    try:
        image = (FIXTURES / "product-white-background" / "shadow-band.jpg").read_bytes()
        created = submit(api, image, task="product-white-background")
        done = wait_for_verdict(api, created["id"])
        # Every judge voted (before, each layout vote failed to be written and the verdict came at the deadline).
        assert done["votes_in"] == len(created["judges_expected"]), done
    finally:
        worker.stop()


def test_redelivered_judge_messages_give_one_vote_each_and_one_verdict(api, production_env, tmp_path) -> None:
    # Submitted while no worker runs: the messages wait in Redis.
    created = submit(api, png_bytes(400, 400), params='{"width": 400, "height": 400}')
    evaluation_id = created["id"]
    broker = RedisBroker(url=REDIS_URL, namespace=production_env["SENTINEL_REDIS_NAMESPACE"])
    broker.declare_queue("judging")
    for _ in range(2):  # the evaluation's panel message delivered twice more
        broker.enqueue(
            Message(
                queue_name="judging",
                actor_name="judge_panel",
                args=(evaluation_id, created["judges_expected"]),
                kwargs={},
                options={},
            )
        )
    for judge in created["judges_expected"]:
        for _ in range(2):  # and every judge's message in the shape written before panel messages, twice
            broker.enqueue(
                Message(
                    queue_name="judging",
                    actor_name="judge_evaluation",
                    args=(evaluation_id, judge, 30.0),
                    kwargs={},
                    options={},
                )
            )
    worker = start_worker(production_env, tmp_path / "worker.log")
    try:
        done = wait_for_verdict(api, evaluation_id)
        # Give the duplicates time to be consumed: they are still in the queue after the verdict.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and broker.client.llen(f"{broker.namespace}:judging") > 0:
            time.sleep(0.1)
    finally:
        worker.stop()
        broker.close()
    settings = Settings(database_url=production_env["SENTINEL_DATABASE_URL"])
    engine = build_services(settings).engine
    with Session(engine) as session:
        votes = session.exec(select(Vote).where(Vote.evaluation_id == evaluation_id)).all()
        evaluation = session.get(Evaluation, evaluation_id)
    assert sorted(v.judge for v in votes) == sorted(created["judges_expected"])
    assert evaluation.verdict == done["verdict"]
    assert evaluation.result == {k: done[k] for k in evaluation.result}


def test_votes_of_one_evaluation_arriving_together_all_count_on_postgres(postgres_url, tmp_path) -> None:
    """Vision judges' answers land at the same moment: each vote is stored and the last one writes the verdict,
    with no transaction aborted by a deadlock between them."""
    from sentinel.evaluation.runner import VoteResult

    settings = Settings(database_url=postgres_url, data_dir=tmp_path)
    service = EvaluationService(build_services(settings))
    submission = service.validate("text-to-image", {}, {"image": png_bytes(64, 64)})
    evaluations = [service.submit(submission) for _ in range(8)]
    errors: list[BaseException] = []

    def vote(evaluation_id: str, judge: str, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            service.record_votes(evaluation_id, [VoteResult(judge, True, "fine")])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    for evaluation in evaluations:
        barrier = threading.Barrier(len(evaluation.panel))
        threads = [threading.Thread(target=vote, args=(evaluation.id, j, barrier)) for j in evaluation.panel]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    with Session(service.services.engine) as session:
        for evaluation in evaluations:
            stored = session.get(Evaluation, evaluation.id)
            assert stored.status == "done" and stored.verdict == "green", stored


def test_racing_deliveries_and_finalisers_on_postgres(postgres_url, tmp_path) -> None:
    settings = Settings(database_url=postgres_url, data_dir=tmp_path)
    service = EvaluationService(build_services(settings))
    submission = service.validate("text-to-image", {}, {"image": png_bytes(300, 300)})
    evaluation = service.submit(submission)
    barrier = threading.Barrier(len(evaluation.panel) * 2 + 2)
    finaliser_wins: list[bool] = []
    errors: list[BaseException] = []

    def deliver(judge: str) -> None:
        try:
            barrier.wait()
            service.process_judge_message(evaluation.id, judge)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def finalise() -> None:
        try:
            barrier.wait()
            finaliser_wins.append(service.finalise(evaluation.id, deadline_passed=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(j,)) for j in evaluation.panel for _ in range(2)]
    threads += [threading.Thread(target=finalise) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with Session(service.services.engine) as session:
        votes = session.exec(select(func.count()).select_from(Vote).where(Vote.evaluation_id == evaluation.id)).one()
        stored = session.get(Evaluation, evaluation.id)
    assert votes <= len(evaluation.panel)
    assert stored.status == "done"
    assert finaliser_wins.count(True) <= 1
    assert stored.verdict in ("green", "amber", "red")
    assert stored.result["verdict"] == stored.verdict
    # Whatever arrives later changes nothing: the verdict was written once.
    assert service.finalise(evaluation.id, deadline_passed=True) is False
    for judge in evaluation.panel:
        service.process_judge_message(evaluation.id, judge)
    with Session(service.services.engine) as session:
        later_votes = session.exec(
            select(func.count()).select_from(Vote).where(Vote.evaluation_id == evaluation.id)
        ).one()
        later = session.get(Evaluation, evaluation.id)
    assert later_votes == votes
    assert (later.verdict, later.finished_at, later.result) == (stored.verdict, stored.finished_at, stored.result)
