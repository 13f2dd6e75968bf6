"""Run directories on object storage: a real S3-compatible server (moto in server mode) on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, ROOT, driver
from harness.process import FakeProcess, exact_dedup_only, free_port, job_copy

from analysis.analyze import analyze
from targen_ray.config import SPLITS
from targen_ray.engine import job as job_mod
from targen_ray.engine.publish import publish, verify
from targen_ray.engine.runner import run
from targen_ray.engine.store import RUN_FILE, RunDir
from targen_ray.engine.tasks import get_task


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        boto3.client("s3").create_bucket(Bucket="targen-runs")
        yield pafs.S3FileSystem(endpoint_override=url, access_key="test", secret_key="test", region="us-east-1")
    proc.terminate()
    proc.wait(timeout=10)


def _polars_s3() -> dict:
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    return {k.lower().replace("default_", ""): os.environ[k] for k in keys} | {"aws_allow_http": "true"}


def _files(fs, prefix: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(i.path.removeprefix(prefix + "/") for i in infos if i.type == pafs.FileType.File)


@pytest.mark.slow  # a full pipeline on S3, then its resume
def test_run_dir_on_s3_resumes_and_compacts(ray_session, s3, tmp_path):
    fake = FakeProcess(tmp_path)
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai")
        uri = "s3://targen-runs/boolq/a"
        # Through Ray Data's actors, as its own driver: its Ray's workers write the intent records to the
        # bucket, and see its address and keys in their environment, as a cluster's nodes would.
        job_file = job_copy(exact_dedup_only(BOOLQ, tmp_path), tmp_path, "s3", batch_size=4)
        cmd, env = driver(endpoints, 40, uri, job_file, "--no-analyze")
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        job = job_mod.load(job_file, endpoints)
        summary = json.loads(s3.open_input_stream(f"targen-runs/boolq/a/{RunDir.summary_file()}").read())
        assert summary["complete"] and summary["rows"]["counts_add_up"]
        files = _files(s3, "targen-runs/boolq/a")
        assert RUN_FILE in files and RunDir.summary_file() in files
        assert not [f for f in files if "/." in f or f.startswith(".") or "_compacting" in f], files
        # Finished stages are compacted: one part per round where there were many.
        generated = [f.split("/")[1].split("-")[0] for f in files if f.startswith(RunDir.stage_dir("generate") + "/")]
        assert generated and len(generated) == len(set(generated)), files
        for split in SPLITS:
            table = pq.read_table(f"targen-runs/boolq/a/{RunDir.final(split)}", filesystem=s3)
            assert table.num_rows == summary["splits"][split]["target"]

        # Lose the corrections of a few rows, as a crash in stage 4 would; the rerun sends only those (from
        # the driver this time: a run continues whichever executor began it).
        part = "targen-runs/boolq/a/" + next(f for f in files if f.startswith(RunDir.stage_dir("correct") + "/"))
        table = pq.read_table(part, filesystem=s3)
        pq.write_table(table.slice(0, table.num_rows - 5), part, filesystem=s3)
        sent = len(fake.log())
        again = run(job, uri, limit=40, in_driver=True)
        resent = fake.log()[sent:]
        assert len(resent) == 5 and {e["schema"] for e in resent} == {"boolq_correct"}
        assert again["complete"] and again["rows"]["counts_add_up"]

        # The report is read from and written to object storage too.
        metrics = analyze(uri)
        assert metrics["datasets"]["synthetic"]["rows"] == 40
        assert {"report/metrics.json", "report/report.html"} <= set(_files(s3, "targen-runs/boolq/a"))

        # Published to object storage, verified there, and read back by pyarrow and by polars.
        dest = "s3://targen-runs/datasets/boolq"
        state, manifest = publish(uri, dest)
        assert state == "published" and verify(dest)[1] == []
        assert publish(uri, dest)[0] == "unchanged"
        assert _files(s3, "targen-runs/datasets/boolq")[-1] == "manifest.json"
        for split in SPLITS:
            rows = summary["splits"][split]["rows"]
            paths = [f"targen-runs/datasets/boolq/{e['path']}" for e in manifest["files"] if e["split"] == split]
            table = pa.concat_tables(pq.read_table(p, filesystem=s3) for p in paths)
            assert table.schema.remove_metadata() == get_task("boolq").record_schema and table.num_rows == rows
            frame = pl.read_parquet(f"{dest}/data/{split}-*.parquet", storage_options=_polars_s3())
            assert frame.height == rows == manifest["splits"][split]
    finally:
        fake.stop()
