"""Bad input: one line naming file and field, exit status 2, before any request is sent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from harness.process import free_port

from targen_ray.interface.cli import main


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of jobs/ and prompts/ to break one thing at a time."""
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def error_of(capsys, *argv: str) -> str:
    code = main(["run", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_field(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "contexts: 400", "contexts: 400\ncolour: red")
    assert error_of(capsys, str(job)) == f"targen: error: {job}:15: colour: unknown field"


def test_negative_split_size(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "train: 9427", "train: -5")
    err = error_of(capsys, str(job))
    assert f"{job}:11: splits.train: Input should be greater than or equal to 0 (got -5)" in err


def test_wrong_type(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "seeds_per_context: 5", "seeds_per_context: many")
    assert "seeds_per_context: Input should be a valid integer" in error_of(capsys, str(job))


def test_yaml_syntax_error(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "splits:", "splits: [")
    assert f"{job}:" in error_of(capsys, str(job)) and "YAML syntax error" in error_of(capsys, str(job))


def test_label_weight_not_in_label_space(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "contexts: 400", 'contexts: 400\nlabel_weights: {"yes": 1, maybe: 2}')
    assert "label_weights names ['maybe'], not in labels" in error_of(capsys, str(job))


def test_label_space_does_not_fit_task(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, 'labels: ["no", "yes"]', 'labels: ["no", "yes", "unsure"]')
    assert error_of(capsys, str(job)).endswith("labels: task boolq has 2 labels (False, True), got 3")


def test_unknown_task(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "task: boolq", "task: boolqq")
    known = "axb, axg, boolq, cb, copa, multirc, record, rte, wic, wsc"
    assert f"task: unknown task 'boolqq' (shipped: {known}; or declare one: README, Your own task)" in error_of(
        capsys, str(job)
    )


def test_undefined_template_variable(project, capsys):
    edit(project / "prompts" / "boolq" / "generate.j2", "{{ seed }}", "{{ pasage }}")
    err = error_of(capsys, str(project / "jobs" / "boolq.yaml"))
    assert err.endswith(
        "generate.j2: undefined variable pasage (available: context, description, guidance, label, labels, seed, "
        "seed_noun, task)"
    )


def test_template_syntax_error(project, capsys):
    edit(project / "prompts" / "boolq" / "correct.j2", "{{ instance.question }}", "{{ instance.question }")
    assert "correct.j2:8: template syntax error" in error_of(capsys, str(project / "jobs" / "boolq.yaml"))


def test_missing_prompt_file(project, capsys):
    (project / "prompts" / "boolq" / "seeds.j2").unlink()
    assert "seeds.j2: missing prompt file for step 'seeds'" in error_of(capsys, str(project / "jobs" / "boolq.yaml"))


def test_endpoint_key_env_unset(project, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ep = project / "jobs" / "endpoints" / "openai.yaml"
    err = error_of(capsys, str(project / "jobs" / "boolq.yaml"), "--endpoints", str(ep))
    assert err == f"targen: error: {ep}: endpoints.writer.api_key_env: environment variable OPENAI_API_KEY is not set"


def test_unknown_provider(project, capsys):
    ep = project / "jobs" / "endpoints" / "openai.yaml"
    edit(ep, "provider: openai", "provider: openia")
    err = error_of(capsys, str(project / "jobs" / "boolq.yaml"), "--endpoints", str(ep))
    assert f"{ep}:7: endpoints.writer.provider: Input should be 'openai', 'anthropic' or 'local'" in err


def test_step_uses_undefined_endpoint(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    edit(job, "correct: {endpoint: judge", "correct: {endpoint: jduge")
    assert "steps.correct.endpoint: 'jduge' is not defined in" in error_of(capsys, str(job))


def test_missing_job_file(tmp_path, capsys):
    assert "cannot read (No such file or directory)" in error_of(capsys, str(tmp_path / "nope.yaml"))


def test_bad_limit(capsys):
    assert "--limit: expected a positive number of rows, got 0" in error_of(
        capsys, str(ROOT / "jobs" / "boolq.yaml"), "--limit", "0"
    )


def test_run_dir_not_empty(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("")
    err = error_of(capsys, str(ROOT / "jobs" / "boolq.yaml"), "--run-dir", str(tmp_path / "old"))
    assert f"--run-dir: {tmp_path / 'old'} holds files that are not a targen run; use a new --run-dir" in err


def test_unreachable_base_url(project, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "sk-x")
    ep = project / "jobs" / "endpoints" / "fake.yaml"
    port = free_port()  # nothing listens there
    edit(ep, "http://127.0.0.1:8999/v1", f"http://127.0.0.1:{port}/v1")
    run_dir = project / "run"
    err = error_of(capsys, str(project / "jobs" / "boolq.yaml"), "--endpoints", str(ep), "--run-dir", str(run_dir))
    assert err == (
        f"targen: error: {ep}: endpoints.writer.base_url: cannot connect to http://127.0.0.1:{port}/v1 "
        "(Connection refused)"
    )
    assert not run_dir.exists()


def test_run_dir_not_writable(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")  # CI runs as root, where permission bits do not stop a write
    err = error_of(capsys, str(ROOT / "jobs" / "boolq.yaml"), "--run-dir", str(tmp_path / "a-file" / "run"))
    assert err.startswith(f"targen: error: --run-dir: run directory {tmp_path / 'a-file' / 'run'} is not usable: ")


def test_unknown_stage_to_force(capsys):
    err = error_of(capsys, str(ROOT / "jobs" / "boolq.yaml"), "--force", "generate,dedupe")
    assert err == "targen: error: --force: unknown stage dedupe (stages: contexts, seeds, generate, correct)"


def test_retry_rejects_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["retry-rejects", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"targen: error: {tmp_path}: not a targen run directory (no run.json)"


def test_job_file_not_utf8(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    job.write_bytes(job.read_bytes().replace(b"BoolQ is reading", b"BoolQ \xe9s reading", 1))
    assert error_of(capsys, str(job)) == f"targen: error: {job}:6: not UTF-8 text (byte 0xe9 at offset 192)"


def test_every_split_zero(project, capsys):
    job = project / "jobs" / "boolq.yaml"
    for old in ("train: 9427", "validation: 3270", "test: 3245"):
        edit(job, old, old.split(":")[0] + ": 0")
    assert error_of(capsys, str(job)) == f"targen: error: {job}:10: splits: every split is 0: there is nothing to make"


@pytest.mark.parametrize("how", ["RAY_ADDRESS", "recorded"])
def test_dead_cluster_is_one_line_at_once(project, tmp_path, how):
    """RAY_ADDRESS, or the address `ray start` recorded for a cluster that has since died: Ray would retry
    its GCS forever; targen names the address and exits 2 within seconds, before the run dir exists."""
    dead = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "FAKE_API_KEY": "x"}
    if how == "RAY_ADDRESS":
        env["RAY_ADDRESS"] = dead
    else:
        (tmp_path / "tmp" / "ray").mkdir(parents=True)
        (tmp_path / "tmp" / "ray" / "ray_current_cluster").write_text(dead)
        env.update(RAY_ADDRESS="", TMPDIR=str(tmp_path / "tmp"))
    job, endpoints = project / "jobs" / "boolq.yaml", project / "jobs" / "endpoints" / "fake.yaml"
    cmd = [sys.executable, "-m", "targen_ray", "run", str(job), "--endpoints", str(endpoints), "--limit", "2"]
    done = subprocess.run(
        [*cmd, "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert f"no Ray cluster answers at {dead}" in done.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (  # a label listed twice lost one, and the error that followed named label_weights
            "ticket_intent.yaml",
            "    shipping: Delivery",
            "    billing: Delivery",
            "17: task.labels: duplicate key 'billing' (first at line 14)",
        ),
        (
            "endpoints/openai.yaml",
            "    rpm: 5000\n",
            "    rpm: 5000\n    model: gpt-4o\n",
            "11: endpoints.writer: duplicate key 'model' (first at line 8)",
        ),
    ],
)
def test_duplicate_key(project, capsys, file, old, new, expected):
    """YAML lets the last of two equal keys win; targen refuses the file, naming both lines."""
    path = project / "jobs" / file
    edit(path, old, new)
    job, endpoints = project / "jobs" / "ticket_intent.yaml", project / "jobs" / "endpoints" / "openai.yaml"
    assert error_of(capsys, str(job), "--endpoints", str(endpoints)) == f"targen: error: {path}:{expected}"


def test_impossible_word_bounds(project, capsys):
    job = project / "jobs" / "ticket_intent.yaml"
    edit(job, "{field: ticket, min_words: 8, max_words: 150}", "{field: ticket, min_words: 15, max_words: 5}")
    assert error_of(capsys, str(job)) == (
        f"targen: error: {job}:20: task.checks.0.max_words: max_words 5 is less than min_words 15: no value can pass"
    )


def test_merge_keys_are_not_duplicates(project):
    """`<<: *anchor` brings in keys the mapping may override: not a duplicate."""
    from targen_ray.config import load_endpoints

    path = project / "jobs" / "endpoints" / "openai.yaml"
    edit(path, "  writer:\n", "  writer: &writer\n")
    edit(path, "  judge:\n    provider: openai\n", "  judge:\n    <<: *writer\n")
    judge = load_endpoints(path)["judge"]  # provider from the merge; model and the rest its own
    assert (judge.provider, judge.model, judge.workers) == ("openai", "gpt-4o", 2)
