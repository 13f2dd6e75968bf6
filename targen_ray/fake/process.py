"""`targen fake-server` as a child process: started, waited for, queried and stopped by tests and benchmarks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeProcess:
    def __init__(self, tmp: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tmp)
        cmd = [sys.executable, "-m", "targen_ray.cli", "fake-server", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("fake server did not start")

    def endpoints(
        self, writer: str = "openai", judge: str = "anthropic", key_env: str = "FAKE_API_KEY", **extra
    ) -> Path:
        """An endpoints file with `writer` and `judge` on this server; `extra` fields go into both."""

        def ep(provider: str, model: str) -> dict:
            base = f"{self.url}/v1" if provider == "openai" else self.url
            return {
                "provider": provider,
                "model": model,
                "base_url": base,
                "api_key_env": key_env,
                "workers": 2,
                "max_concurrency": 8,
                "timeout_s": 30,
                **extra,
            }

        path = self.tmp / f"endpoints-{free_port()}.yaml"
        path.write_text(
            yaml.safe_dump({"endpoints": {"writer": ep(writer, "fake-writer"), "judge": ep(judge, "fake-judge")}})
        )
        return path

    def _get(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.load(r)

    def stats(self) -> dict:
        return self._get("/stats")

    def log(self) -> list[dict]:
        return self._get("/log")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
