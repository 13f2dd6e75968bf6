"""The house's layering, checked on the code itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_planning_modules_import_no_ray():
    """plan, items and split decide ids, quotas and splits: they load without Ray, the pool or a provider."""
    probe = "import sys, targen_ray.plan, targen_ray.items, targen_ray.split, targen_ray.ids\n"
    probe += "print(sorted(m for m in ('ray', 'targen_ray.limits', 'targen_ray.pool', 'openai') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_steps_are_descriptions_that_send_nothing():
    """A step renders requests and reads answers; executors send them: steps load without Ray, the
    pool, a provider's SDK or an executor."""
    probe = "import sys, targen_ray.steps\n"
    probe += "names = ('ray', 'targen_ray.pool', 'targen_ray.execute', 'openai', 'anthropic')\n"
    probe += "print(sorted(m for m in names if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_configuration_loads_without_the_engine():
    """What a user writes (config/: jobs, endpoints, task declarations) is read and checked without the
    engine: no Ray, no provider, no stage, no run directory, no embedding model, no fake."""
    engine = ("dedup", "execute", "limits", "pool", "providers", "store", "runner", "steps", "tasks", "fake")
    probe = "import sys, targen_ray.config, targen_ray.config.prices, targen_ray.config.kinds\n"
    probe += f"names = ('ray', *('targen_ray.' + m for m in {engine!r}))\n"
    probe += "print(sorted(m for m in names if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_only_the_fake_server_command_imports_the_fake():
    """The fake provider serves tests and benchmarks: the package uses it for `targen fake-server` (cli.py)
    and to say which checks a rehearsal on it cannot pass (commands.py), nowhere else."""
    package = Path(__file__).resolve().parents[1] / "targen_ray"
    found = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if "fake" not in path.relative_to(package).parts[:1]
        and re.search(r"from \.+fake\b|targen_ray\.fake\b", path.read_text())
    ]
    assert found == ["cli.py", "commands.py"]


def test_the_run_directory_layout_is_named_in_store_alone():
    """Folder and file names of a run directory appear as literals in store/layout.py only: everything
    else, tests and benchmarks included, asks RunDir for them."""
    root = Path(__file__).resolve().parents[1]
    literal = re.compile(
        r"""(?<!"")["'/](0[1-6]_\w+|(rejects|retried|batches|superseded|final|logs)/|(summary|run|structured)\.json)"""
    )
    found = []
    for path in sorted(p for d in ("targen_ray", "analysis", "tests", "benchmarks") for p in (root / d).rglob("*.py")):
        # layout.py names the layout; the fake server's paths are the providers' HTTP routes; this file
        layout = root / "targen_ray" / "store" / "layout.py"
        if path == layout or "fake" in path.parts or path == Path(__file__).resolve():
            continue
        found += [
            f"{path.relative_to(root)}:{n}"
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if literal.search(line)
        ]
    assert found == []


def test_every_command_is_a_library_call():
    """The CLI parses and calls: each command's handler (commands.py) calls `targen_ray.api` (or the job API
    module)."""
    from targen_ray import api, commands

    source = Path(commands.__file__).read_text()
    for name in ("plan_run", "plan_retry", "estimate", "export", "analyze", "evaluate", "publish", "verify", "init"):
        assert f"api.{name}(" in source and callable(getattr(api, name))
