"""`sentinel eval --server` with no key, or a wrong one, where the server requires keys: the command's mistake
(exit 2 before judging anything, saying to pass --api-key), not one "could not be judged" per image."""

from __future__ import annotations

import subprocess

from tests.conftest import FIXTURES, SENTINEL, clean_env, start_server


def test_eval_on_a_server_without_a_valid_key_stops_before_judging(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    made = subprocess.run([SENTINEL, "keys", "create", "--name", "ci"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    server, base = start_server(env, tmp_path / "api.log")
    try:
        images = [str(FIXTURES / "product-white-background" / name) for name in ("good.jpg", "watermark.jpg")]
        for key in ([], ["--api-key", "snt_not-a-key"]):
            ran = subprocess.run(
                [SENTINEL, "eval", *images, "--task", "product-white-background", "--server", base, *key],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
            assert "--api-key" in ran.stderr and "SENTINEL_API_KEY" in ran.stderr, ran.stderr[-2000:]
            assert "could not be judged" not in ran.stderr, ran.stderr[-2000:]
        token = made.stdout.strip()
        judged = subprocess.run(
            [SENTINEL, "eval", *images, "--task", "product-white-background", "--server", base, "--api-key", token],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert judged.returncode in (0, 1), judged.stderr[-2000:]  # judged: the verdicts decide
        assert "could not be judged" not in judged.stderr, judged.stderr[-2000:]
    finally:
        server.stop()
