"""A worker process of its own that runs one job's first attempt, for tests that kill it (SIGKILL) while its provider
call or task is under way. Run as ``python -c ATTEMPT_WORKER DATABASE_URL DATA_DIR ROUTES JOB_ID``."""

ATTEMPT_WORKER = """
import sys
from pathlib import Path
from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async

url, data_dir, routes, job_id = sys.argv[1:]
services = build_services(Settings(data_dir=Path(data_dir), database_url=url, routes=Path(routes)))
generation = run_async(open_generation(services))
AttemptRunner(services, EvaluationService(services), JobProgress(services), lambda: generation).run(job_id, 0, 1)
"""
