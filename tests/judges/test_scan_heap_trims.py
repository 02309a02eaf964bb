"""When the vision scan's thread hands its freed heap back: once its queue of scans runs out, and every
TRIM_EVERY_SCANS scans of a long queue, not after every scan (each next scan of a burst faulted the pages in again)."""

from __future__ import annotations

import threading

import pytest

from sentinel.evaluation.vision import judge


def test_a_queue_of_scans_trims_when_it_runs_out_and_every_few_scans_of_a_long_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[int] = []
    done: list[int] = []
    monkeypatch.setattr(judge, "release_to_os", lambda: trims.append(len(done)))
    monkeypatch.setattr(judge, "TRIM_EVERY_SCANS", 4, raising=False)
    threads = judge._TrimmingThreads(1)
    first_started, release = threading.Event(), threading.Event()

    def held() -> None:
        first_started.set()
        assert release.wait(60)
        done.append(0)

    try:
        futures = [threads.submit(held)]
        assert first_started.wait(60)
        # A burst: the rest queue up behind the first, as a worker's scans do.
        scans = 10
        futures += [threads.submit(lambda i=i: done.append(i)) for i in range(1, scans)]
        release.set()
        for future in futures:
            future.result(timeout=60)
    finally:
        threads.shutdown()
    # Trimmed after every TRIM_EVERY_SCANS-th scan, and after the last (the queue ran out).
    assert trims == [4, 8, 10]


def test_a_scan_that_fails_still_counts_and_the_heap_is_trimmed_when_the_queue_runs_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[int] = []
    monkeypatch.setattr(judge, "release_to_os", lambda: trims.append(1))
    threads = judge._TrimmingThreads(1)
    try:
        with pytest.raises(ZeroDivisionError):
            threads.submit(lambda: 1 / 0).result(timeout=60)
        assert threads.submit(lambda: 2).result(timeout=60) == 2
    finally:
        threads.shutdown()
    assert trims == [1, 1]


def test_a_scan_taken_off_the_queue_before_it_ran_does_not_keep_the_heap_from_being_trimmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[int] = []
    monkeypatch.setattr(judge, "release_to_os", lambda: trims.append(1))
    threads = judge._TrimmingThreads(1)
    started, release = threading.Event(), threading.Event()
    try:
        running = threads.submit(lambda: (started.set(), release.wait(60)))
        assert started.wait(60)
        assert threads.submit(lambda: None).cancel()
        release.set()
        running.result(timeout=60)
        threads.submit(lambda: None).result(timeout=60)
    finally:
        threads.shutdown()
    assert trims == [1, 1]  # the queue ran out after the first and after the last
