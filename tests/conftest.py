"""Shared fixtures: one local Ray per session, the fake provider as a real server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOLQ = ROOT / "jobs" / "boolq.yaml"
FAKE_KEY = "sk-test-fake-0123456789"


@pytest.fixture(scope="session")
def ray_session():
    # Workers inherit the driver's environment at ray.init: the fake key must be set before.
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeProvider:
    """`targen fake-server` in its own process; `endpoints()` writes an endpoints file pointing at it."""

    def __init__(self, tmp: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
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

    def stats(self) -> dict:
        import json

        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def fake(tmp_path_factory):
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    server = FakeProvider(tmp_path_factory.mktemp("fake"), "--wrong-label-rate", "0.2", "--invalid-key", "sk-revoked")
    yield server
    server.stop()
