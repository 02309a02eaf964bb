"""Run by test_memory.py in a process of its own: Sentinel's app in this process (so tracemalloc sees every
allocation it makes), a fake provider and the client in others. Prints, as JSON, the peak of traced memory
above the idle baseline during each request, per response format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import httpx
import uvicorn
import yaml

from sentinel.bench.gateway import noise_png
from sentinel_fakes.server import free_port


def main() -> None:
    image = noise_png(int(sys.argv[1]))
    folder = Path(tempfile.mkdtemp(prefix="sentinel-memory-"))
    (folder / "image.png").write_bytes(image)
    provider_port, sentinel_port = free_port(), free_port()
    routes = {
        "providers": {
            "fake": {"kind": "openai", "base_url": f"http://127.0.0.1:{provider_port}/v1", "api_key_env": "FAKE_KEY"}
        },
        "models": {"bench": {"candidates": [{"target": "fake:dall-e-3"}]}},
        "default_model": "bench",
    }
    (folder / "routes.yaml").write_text(yaml.safe_dump(routes))
    os.environ |= {
        "SENTINEL_DATA_DIR": str(folder / "data"),
        "SENTINEL_ROUTES": str(folder / "routes.yaml"),
        "FAKE_KEY": "sk-fake",
    }
    image_file = str(folder / "image.png")
    fake = subprocess.Popen(
        [sys.executable, "-m", "sentinel_fakes", "openai", "--port", str(provider_port), "--image", image_file]
    )
    from sentinel.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=sentinel_port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{sentinel_port}"
    deadline = time.monotonic() + 30
    while not server.started or not _answers(f"http://127.0.0.1:{provider_port}/files/none"):
        if time.monotonic() > deadline:
            raise SystemExit("the app or the fake provider did not start")
        time.sleep(0.05)
    peaks: dict[str, float] = {}
    try:
        for response_format in ("b64_json", "url"):
            post = [
                sys.executable, "-c",
                "import httpx, sys; r = httpx.post(sys.argv[1], json={'prompt': 'p', 'response_format': sys.argv[2]},"
                " timeout=60); r.raise_for_status(); assert len(r.content) > 0",
                f"{url}/v1/images/generations", response_format,
            ]  # fmt: skip
            subprocess.run(post, check=True)  # warm: imports, pools, the first row of each table
            tracemalloc.start()
            idle = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            subprocess.run(post, check=True)
            peaks[response_format] = (tracemalloc.get_traced_memory()[1] - idle) / len(image)
            tracemalloc.stop()
    finally:
        fake.terminate()
        server.should_exit = True
    print(json.dumps({"image_bytes": len(image), "peak_copies": peaks}))


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


if __name__ == "__main__":
    main()
