"""`targen fake-server` as a child process (started, waited for, queried, stopped), and the memory of a
driver process tree: what tests and benchmarks need around a run."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """Whether `url` answers within `timeout_s` while the server process that should serve it lives."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def peak_window(admitted: list[float], window_s: float) -> int:
    """The most requests in any window of `window_s`, over sorted arrival times: (t - window_s, t], as
    the fake's sliding window counts them."""
    peak, k = 0, 0
    for i, t in enumerate(admitted):
        while admitted[k] <= t - window_s:
            k += 1
        peak = max(peak, i - k + 1)
    return peak


def job_copy(job: Path, folder: Path, name: str, **fields) -> Path:
    """A copy of a job in `folder` (its prompts still found) with top-level `fields` replaced."""
    spec = yaml.safe_load(job.read_text())
    spec["prompts"] = str((job.parent / spec["prompts"]).resolve())
    path = folder / f"{name}-{job.name}"
    path.write_text(yaml.safe_dump({**spec, **fields}))
    return path


def exact_dedup_only(job: Path, folder: Path) -> Path:
    """A copy of a job whose stage 5 drops exact duplicates only: for tests about other stages, which
    need not pay for embeddings (their own tests are in test_dedup_quality.py)."""
    dedup = yaml.safe_load(job.read_text()).get("dedup", {})
    return job_copy(job, folder, "exact-dedup", dedup={**dedup, "near": False})


def with_panel(job: Path, folder: Path, judges: list[str], vote: str = "majority", **fields) -> Path:
    """A copy of a job (stage 5 exact only) whose step 4 is a panel of `judges` voting by `vote` (or, with
    one judge, that judge alone); `fields` override the job's top-level fields."""
    exact = exact_dedup_only(job, folder)
    steps = yaml.safe_load(exact.read_text())["steps"]
    correct = {k: v for k, v in steps["correct"].items() if k not in ("endpoint", "panel", "vote")}
    step = {"endpoint": judges[0]} if len(judges) == 1 else {"panel": judges, "vote": vote}
    name = f"panel-{'-'.join(judges)}-{vote}"
    return job_copy(exact, folder, name, steps={**steps, "correct": {**correct, **step}}, **fields)


FAKE_PRICES = {"writer": {"input": 0.15, "output": 0.60}, "judge": {"input": 2.50, "output": 10.00}}  # fake.yaml's


def _high_priority() -> None:
    """A provider's servers are not on its clients' CPUs: the fake runs ahead of this machine's other
    processes where it may (as root), so a starved client is measured, not a starved server."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)


class FakeProcess:
    def __init__(self, tmp: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tmp)
        cmd = [sys.executable, "-m", "targen_ray", "fake-server", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_high_priority
        )
        if not wait_for(f"{self.url}/health", self.proc, 30):
            self.stop()
            raise RuntimeError("fake server did not start")

    def endpoints(
        self,
        writer: str = "openai",
        judge: str = "anthropic",
        key_env: str = "FAKE_API_KEY",
        judges: dict[str, str] | None = None,
        **extra,
    ) -> Path:
        """An endpoints file with `writer` and `judge` on this server, and `judges` (name -> model, on the
        OpenAI API) beside them; `extra` fields go into every one."""

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
            yaml.safe_dump(
                {
                    "endpoints": {
                        "writer": ep(writer, "fake-writer"),
                        "judge": ep(judge, "fake-judge"),
                        **{name: ep("openai", model) for name, model in (judges or {}).items()},
                    }
                }
            )
        )
        return path

    def batch_endpoints(self, writer: dict, judge: dict, **extra) -> Path:
        """An endpoints file priced like jobs/endpoints/fake.yaml: `writer` online on OpenAI (for steps 1-2),
        `writer_batch` on OpenAI's Batch API and `judge_batch` on Anthropic's, with these `batch:` blocks;
        `extra` fields go into all three."""

        def ep(provider: str, model: str, price: dict, **more) -> dict:
            base = f"{self.url}/v1" if provider == "openai" else self.url
            return dict(provider=provider, model=model, base_url=base, api_key_env="FAKE_API_KEY", price=price, **more)

        writer_price, judge_price = FAKE_PRICES["writer"], FAKE_PRICES["judge"]
        spec = {
            "writer": ep("openai", "fake-writer", writer_price, **extra),
            "writer_batch": ep("openai", "fake-writer", writer_price, mode="batch", batch=writer, **extra),
            "judge_batch": ep("anthropic", "fake-judge", judge_price, mode="batch", batch=judge, **extra),
        }
        path = self.tmp / f"endpoints-batch-{free_port()}.yaml"
        path.write_text(yaml.safe_dump({"endpoints": spec}))
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
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a server holding gigabytes of batches can take longer to shut down
            self.proc.kill()
            self.proc.wait()


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (Ray's object store) split among the processes mapping them,
    so a sum over processes counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def session_pids(session: int) -> list[int]:
    """Every live process in a session: a driver started with start_new_session and its local Ray."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) == session:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class MemoryPeak:
    """Samples, in a thread, the PSS of a driver process and of every process of its session (its
    local Ray: raylet, GCS, object store, workers); keeps the peaks in MiB."""

    def __init__(self, driver_pid: int, every_s: float = 0.5):
        self.driver_pid, self.every_s = driver_pid, every_s
        self.driver_mib = self.total_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = session_pids(self.driver_pid)
            sizes = {pid: pss_kib(pid) / 1024 for pid in pids}
            self.driver_mib = max(self.driver_mib, sizes.get(self.driver_pid, 0.0))
            self.total_mib = max(self.total_mib, sum(sizes.values()))
            self._stop.wait(self.every_s)

    def stop(self) -> MemoryPeak:
        self._stop.set()
        self._thread.join()
        return self
