"""Results you can query: `GET /v1/evaluations` (filters, cursor pages that hold while rows arrive, tenants kept
apart) and the JSONL / CSV exports of evaluations and jobs, on a real `sentinel serve` over the embedded SQLite and
over PostgreSQL. Rows are written straight into the database where a test needs verdicts, reviews and times it
chooses; each test uses a task name of its own, so tests sharing a server never see each other's rows."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from sentinel.evaluation.listing import CSV_HEADER
from sentinel.jobs.export import CSV_HEADER as JOB_CSV_HEADER
from sentinel.keys.service import KeyService
from sentinel.models import Evaluation, EvaluationStatus, Job, JobState, ReviewDecision, StoredImage, Vote
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import clean_env, own_postgres_database, png_bytes, start_server

IMAGE_ID = "cd" * 32
FORMULA = '=HYPERLINK("http://example.com/x", "click")'


@dataclass
class Api:
    base: str
    engine: Engine
    #: who → secret; who → key id; who → key name.
    secrets: dict[str, str]
    ids: dict[str, str]
    names: dict[str, str]

    def get(self, who: str, path: str, **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secrets[who]}"}
        return httpx.get(self.base + path, params=params, headers=headers, timeout=60)

    def post(self, who: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secrets[who]}"}
        return httpx.post(self.base + path, headers=headers, timeout=60, **kwargs)

    def listing(self, who: str, **params: object) -> list[dict]:
        """Every page of ``GET /v1/evaluations``, followed by cursor."""
        found: list[dict] = []
        cursor = None
        while True:
            page = self.get(who, "/v1/evaluations", **params, **({"cursor": cursor} if cursor else {}))
            assert page.status_code == 200, page.text
            body = page.json()
            found += body["data"]
            cursor = body["next_cursor"]
            if cursor is None:
                return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory) -> Iterator[Api]:
    with ExitStack() as stack:
        data = tmp_path_factory.mktemp(f"listing-{request.param}")
        database = (
            stack.enter_context(own_postgres_database())
            if request.param == "postgresql"
            else f"sqlite:///{data / 'db.sqlite'}"
        )
        # The keys are made as `sentinel keys create` makes them, in this process (a CLI start-up per key is slow).
        services = build_services(Settings(data_dir=data, database_url=database))
        suffix = uuid.uuid4().hex[:8]
        wanted = {"a1": ("acme", False), "a2": ("acme", False), "b": ("globex", False), "admin": (None, True)}
        made = {
            who: KeyService(services).create(
                f"listing-{who}-{suffix}",
                ["admin"] if admin else ["evaluate", "generate"],
                tenant=f"{tenant}-{suffix}" if tenant else None,
            )
            for who, (tenant, admin) in wanted.items()
        }
        with Session(services.engine) as session:
            if session.get(StoredImage, IMAGE_ID) is None:
                session.add(StoredImage(id=IMAGE_ID, mime="image/png", width=8, height=8, size_bytes=10))
                session.commit()
        env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_DATABASE_URL=database)
        server, base = start_server(env, data / "serve.log", timeout=60)
        yield Api(
            base,
            services.engine,
            secrets={who: secret for who, (_, secret) in made.items()},
            ids={who: key.id for who, (key, _) in made.items()},
            names={who: key.name for who, (key, _) in made.items()},
        )
        server.stop()
        services.engine.dispose()


def task_name() -> str:
    return f"task-{uuid.uuid4().hex[:10]}"


def seed(
    api: Api,
    task: str,
    key: str,
    *,
    verdict: str | None = "green",
    created_at: datetime | None = None,
    decision: str | None = None,
    summary: str | None = None,
) -> str:
    """One finished evaluation of ``key`` (a who), with ``decision`` (approve/reject) on an amber one."""
    evaluation_id = f"ev_{uuid.uuid4().hex}"
    created_at = created_at or datetime.now(UTC)
    issues = (
        []
        if verdict in (None, "green")
        else [
            {
                "criterion": "fills-frame",
                "judge": "layout",
                "severity": "moderate",
                "critical": False,
                "detail": "small",
            }
        ]
    )
    result = {
        "verdict": verdict,
        "summary": summary or f"{verdict} result",
        "failed_judges": len(issues),
        "issues": issues,
        "judges": [],
    }
    with Session(api.engine) as session:
        session.add(
            Evaluation(
                id=evaluation_id,
                task=task,
                image_id=IMAGE_ID,
                status=EvaluationStatus.DONE if verdict else EvaluationStatus.JUDGING,
                rubric={},
                panel=["pixels"],
                quorum=1,
                verdict=verdict,
                summary=result["summary"] if verdict else None,
                failed_judges=len(issues) if verdict else None,
                result=result if verdict else None,
                key_id=api.ids[key],
                created_at=created_at,
                deadline_at=created_at + timedelta(minutes=5),
                finished_at=created_at if verdict else None,
            )
        )
        session.flush()
        if verdict:
            session.add(
                Vote(evaluation_id=evaluation_id, judge="pixels", passed=verdict == "green", reasoning="", criteria=[])
            )
        if decision:
            session.add(ReviewDecision(evaluation_id=evaluation_id, decision=decision, reviewer="ana"))
        session.commit()
    return evaluation_id


def without_urls(value: object) -> object:
    """``value`` without its image URLs, which are signed afresh on every read."""
    if isinstance(value, dict):
        return {k: without_urls(v) for k, v in value.items() if k != "url"}
    if isinstance(value, list):
        return [without_urls(v) for v in value]
    return value


def test_a_listed_evaluation_is_what_get_shows_and_the_newest_comes_first(api) -> None:
    made = []
    for color in ((200, 30, 30), (30, 200, 30)):
        created = api.post(
            "a1",
            "/v1/evaluations",
            data={"task": "text-to-image"},
            files={"image": ("a.png", png_bytes(96, 96, color))},
        )
        assert created.status_code == 202, created.text
        made.append(created.json()["id"])
    done = [api.get("a1", f"/v1/evaluations/{ev}", wait=30).json() for ev in made]
    assert all(view["status"] == "done" for view in done)
    listed = {view["id"]: view for view in api.listing("a1", task="text-to-image", key=api.ids["a1"])}
    for view in done:
        assert without_urls(listed[view["id"]]) == without_urls(view)
    order = [view["id"] for view in api.listing("a1", task="text-to-image", key=api.ids["a1"]) if view["id"] in made]
    assert order == made[::-1]


def test_filters_narrow_by_final_verdict_time_and_key(api) -> None:
    task = task_name()
    now = datetime.now(UTC)
    day = timedelta(days=1)
    rows = {
        "green": seed(api, task, "a1", verdict="green", created_at=now - 3 * day),
        "red": seed(api, task, "a1", verdict="red", created_at=now - 2 * day),
        "waiting": seed(api, task, "a1", verdict="amber", created_at=now - day),
        "approved": seed(api, task, "a2", verdict="amber", decision="approve", created_at=now - day / 2),
        "rejected": seed(api, task, "a2", verdict="amber", decision="reject", created_at=now - day / 4),
        "judging": seed(api, task, "a2", verdict=None, created_at=now),
    }

    def ids(**params: object) -> set[str]:
        return {view["id"] for view in api.listing("a1", task=task, **params)}

    assert ids() == set(rows.values())
    # The verdict a user acts on: a reviewer's decision turns an amber green or red.
    assert ids(verdict="green") == {rows["green"], rows["approved"]}
    assert ids(verdict="red") == {rows["red"], rows["rejected"]}
    assert ids(verdict="amber") == {rows["waiting"]}
    approved = next(v for v in api.listing("a1", task=task, verdict="green") if v["id"] == rows["approved"])
    assert (approved["verdict"], approved["final_verdict"], approved["review"]["decision"]) == (
        "amber",
        "green",
        "approve",
    )
    # since is inclusive, until exclusive; a date alone is its midnight (UTC), a time without a zone is UTC.
    assert ids(since=(now - 2 * day).isoformat()) == set(rows.values()) - {rows["green"]}
    assert ids(until=(now - 2 * day).isoformat()) == {rows["green"]}
    assert ids(since=(now - 2.5 * day).isoformat(), until=(now - day / 3).isoformat()) == {
        rows["red"],
        rows["waiting"],
        rows["approved"],
    }
    naive = (now - 2 * day).replace(tzinfo=None).isoformat()
    assert ids(since=naive) == ids(since=(now - 2 * day).isoformat())
    assert ids(since=(now - 4 * day).date().isoformat()) == set(rows.values())
    assert ids(since=(now + 2 * day).date().isoformat()) == set()
    # A key by id or by name; a key of one's own tenant narrows the tenant's list.
    assert ids(key=api.ids["a2"]) == {rows["approved"], rows["rejected"], rows["judging"]}
    assert ids(key=api.names["a1"]) == {rows["green"], rows["red"], rows["waiting"]}


def test_pages_follow_each_other_with_no_repeat_and_no_gap_while_new_rows_arrive(api) -> None:
    task = task_name()
    now = datetime.now(UTC) - timedelta(hours=1)
    # Ties on created_at are common (a batch written in one millisecond): the id orders them.
    tied = now - timedelta(minutes=5)
    before = [seed(api, task, "a1", created_at=now - timedelta(seconds=i)) for i in range(17)]
    before += [seed(api, task, "a2", created_at=tied) for _ in range(6)]
    seen: list[dict] = []
    arrived: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"task": task, "limit": 5, **({"cursor": cursor} if cursor else {})}
        body = api.get("a1", "/v1/evaluations", **params).json()
        seen += body["data"]
        pages += 1
        # Rows keep arriving while the client pages through (newer ones, as they do).
        arrived += [seed(api, task, "a1"), seed(api, task, "a2", verdict="red")]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [view["id"] for view in seen]
    assert len(ids) == len(set(ids)), "a row was shown twice"
    assert set(before) <= set(ids), "a row was skipped"
    assert not set(arrived) & set(ids)
    assert pages == 5  # 23 rows, 5 a page: the last page says there is no next one
    keys = [(datetime.fromisoformat(view["created_at"]), view["id"]) for view in seen]
    assert keys == sorted(keys, reverse=True)
    # A new listing starts from the top and shows the newcomers first.
    fresh = api.get("a1", "/v1/evaluations", task=task, limit=500).json()
    assert {v["id"] for v in fresh["data"]} == set(before) | set(arrived) and fresh["next_cursor"] is None


def test_each_tenant_lists_its_own_and_an_admin_lists_everyone_s(api) -> None:
    task = task_name()
    acme = {seed(api, task, "a1"), seed(api, task, "a2")}
    globex = {seed(api, task, "b")}

    def ids(who: str, **params: object) -> set[str]:
        return {view["id"] for view in api.listing(who, task=task, **params)}

    assert ids("a1") == ids("a2") == acme
    assert ids("b") == globex
    assert ids("admin") == acme | globex
    assert ids("admin", key=api.ids["b"]) == globex
    # Naming another tenant's key shows nothing of it (and does not say whether it exists).
    assert ids("a1", key=api.ids["b"]) == set()
    assert ids("b", key=api.names["a1"]) == set()
    exported = api.get("b", "/v1/evaluations/export", task=task, format="jsonl")
    assert [json.loads(line)["id"] for line in exported.text.splitlines()] == list(globex)
    assert api.get("b", f"/v1/evaluations/{next(iter(acme))}").status_code == 404


def tampered(cursor: str, index: int, value: object) -> str:
    """``cursor`` with one field of its JSON replaced, encoded as the API encodes cursors."""
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[index] = value
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def test_bad_parameters_are_400s_naming_the_parameter(api) -> None:
    task = task_name()
    for _ in range(3):
        seed(api, task, "a1")
    cursor = api.get("a1", "/v1/evaluations", task=task, limit=1).json()["next_cursor"]
    assert cursor
    bad_cursors = [
        "nonsense!",
        tampered(cursor, 0, "not a time"),
        # Well-formed, but not a position this API gave out: another id, another time.
        tampered(cursor, 1, "ev_" + "f" * 32),
        tampered(cursor, 0, "2020-01-01T00:00:00+00:00"),
        cursor[:-3],
        base64.urlsafe_b64encode(b'{"t": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-12-05T00:00:00+00:00", 12]').decode(),
        "A" * 1000,
    ]
    for bad in bad_cursors:
        answer = api.get("a1", "/v1/evaluations", task=task, cursor=bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]["param"] == "cursor"
    for params, field in [
        ({"verdict": "purple"}, "verdict"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-12-05", "until": "2026-12-04"}, "until"),
    ]:
        answer = api.get("a1", "/v1/evaluations", **params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"]["param"] == field
    assert api.get("a1", "/v1/evaluations", limit=0).status_code == 400
    assert api.get("a1", "/v1/evaluations", limit=501).json()["error"]["param"] == "limit"
    for path in ("/v1/evaluations/export", "/v1/jobs/export"):
        answer = api.get("a1", path, format="xml")
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "format", answer.text
    assert api.get("a1", "/v1/jobs/export", state="sleeping").json()["error"]["param"] == "state"


def test_an_export_streams_every_match_as_jsonl_or_csv(api) -> None:
    task = task_name()
    start = datetime.now(UTC) - timedelta(days=1)
    # More rows than one batch of the export reads, so batches have to join up.
    count = 1203
    with Session(api.engine) as session:
        for i in range(count):
            verdict = "red" if i % 3 == 0 else "green"
            # One summary a spreadsheet would run as a formula.
            summary = FORMULA if i == 6 else f"{verdict} result"
            session.add(
                Evaluation(
                    id=f"ev_{uuid.uuid4().hex}",
                    task=task,
                    image_id=IMAGE_ID,
                    status=EvaluationStatus.DONE,
                    rubric={},
                    panel=["pixels"],
                    quorum=1,
                    verdict=verdict,
                    summary=summary,
                    result={"verdict": verdict, "summary": summary, "judges": [], "issues": []},
                    key_id=api.ids["a1"],
                    created_at=start + timedelta(seconds=i // 2),
                    deadline_at=start,
                )
            )
        session.commit()
    jsonl = api.get("a1", "/v1/evaluations/export", task=task, format="jsonl")
    assert jsonl.status_code == 200, jsonl.text
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert jsonl.headers["content-disposition"].startswith('attachment; filename="evaluations-')
    objects = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(objects) == count and len({o["id"] for o in objects}) == count
    assert all(o["object"] == "evaluation" and o["task"] == task for o in objects)
    answer = api.get("a1", "/v1/evaluations/export", task=task, format="csv", verdict="red")
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].endswith('.csv"')
    table = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(table[0]) == CSV_HEADER
    rows = [dict(zip(CSV_HEADER, row, strict=True)) for row in table[1:]]
    assert len(rows) == (count + 2) // 3
    assert {row["final_verdict"] for row in rows} == {"red"}
    assert {row["id"] for row in rows} == {o["id"] for o in objects if o["verdict"] == "red"}
    assert all(row["key_id"] == api.ids["a1"] and row["image_url"].startswith("/v1/images/") for row in rows)
    # A summary a spreadsheet would run as a formula is kept as text in the CSV, and as it is in the JSONL.
    assert [row["summary"] for row in rows if "HYPERLINK" in row["summary"]] == ["'" + FORMULA]
    assert [o["summary"] for o in objects if "HYPERLINK" in o["summary"]] == [FORMULA]


def test_jobs_export_has_each_job_with_its_chosen_images(api) -> None:
    created = api.post(
        "a1",
        "/v1/jobs",
        json={"task": "text-to-image", "prompt": "-1 red ball", "params": {"width": 256, "height": 256}},
    )
    assert created.status_code == 202, created.text
    job = api.get("a1", f"/v1/jobs/{created.json()['id']}", wait=30).json()
    assert job["state"] == "done"
    since = job["created_at"]
    lines = api.get("a1", "/v1/jobs/export", format="jsonl", task="text-to-image", since=since).text.splitlines()
    exported = {json.loads(line)["id"]: json.loads(line) for line in lines}
    assert without_urls(exported[job["id"]]) == without_urls(job)
    answer = api.get("a1", "/v1/jobs/export", format="csv", state="done", since=since)
    assert answer.headers["content-disposition"].startswith('attachment; filename="jobs-')
    table = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(table[0]) == JOB_CSV_HEADER
    row = next(dict(zip(JOB_CSV_HEADER, r, strict=True)) for r in table[1:] if r[0] == job["id"])
    chosen = job["result"]["images"][0]
    assert (row["state"], row["verdict"], row["image_ids"]) == ("done", job["verdict"], chosen["image"]["id"])
    assert row["prompt"] == "'-1 red ball"  # a formula-like first character is kept as text
    assert row["evaluation_ids"].startswith("ev_")
    # Another tenant's export has none of it; an admin's has it.
    assert job["id"] not in api.get("b", "/v1/jobs/export", format="csv", since=since).text
    assert job["id"] in api.get("admin", "/v1/jobs/export", format="csv", since=since).text


def test_a_jobs_export_larger_than_a_batch_has_every_job_once_newest_first(api) -> None:
    task = task_name()
    start = datetime.now(UTC) - timedelta(days=2)
    count = 1010
    with Session(api.engine) as session:
        for i in range(count):
            session.add(
                Job(
                    id=f"job_{uuid.uuid4().hex}",
                    task=task,
                    prompt=f"prompt {i}",
                    state=JobState.DONE,
                    verdict="green",
                    key_id=api.ids["a2"],
                    created_at=start + timedelta(seconds=i // 4),
                    deadline_at=start,
                )
            )
        session.commit()
    lines = api.get("a1", "/v1/jobs/export", format="jsonl", task=task).text.splitlines()
    jobs = [json.loads(line) for line in lines]
    assert len(jobs) == count == len({j["id"] for j in jobs})
    times = [datetime.fromisoformat(j["created_at"]) for j in jobs]
    assert times == sorted(times, reverse=True)
    assert api.get("b", "/v1/jobs/export", format="jsonl", task=task).text == ""


# -- Outside probe F-small: a task filter nothing knows ------------------------------------------------------------


def test_a_task_no_rubric_defines_and_nothing_stored_has_is_a_400_naming_the_known_ones(api) -> None:
    typo = task_name()
    for path in ("/v1/evaluations", "/v1/evaluations/export"):
        response = api.get("a1", path, task=typo)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "task" and f"unknown task '{typo}'" in error["message"], error
        assert "text-to-image" in error["message"]  # the known tasks are listed


def test_a_task_whose_rubric_was_removed_still_lists_its_old_rows(api) -> None:
    # Each test's task has no rubric: one whose rubric was removed after its evaluations were stored.
    task = task_name()
    kept = seed(api, task, "a1")
    assert [row["id"] for row in api.listing("a1", task=task)] == [kept]
    assert api.get("a1", "/v1/evaluations", task=task, verdict="red").json()["data"] == []
