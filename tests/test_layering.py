"""The house's layering, checked on the code itself."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "targen_ray"
LAYERS = ("config", "engine", "interface")  # each imports only the ones before it (and errors.py)


def _loaded(imports: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` (modules of targen_ray, or packages) a fresh interpreter holds after `imports`."""
    probe = f"import sys, {imports}\nprint([m for m in {names!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(done.stdout)


def _imported(path: Path) -> set[str]:
    """The targen_ray modules a file imports, as absolute names."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("targen_ray.")}


def test_the_layers_import_one_way():
    """config/ (what a user writes) imports nothing of the engine or the interface; the engine imports
    nothing of the interface; the fake provider only the engine's task content and the configuration."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = path.relative_to(PACKAGE).parts[0]
        above = {"config": LAYERS[1:] + ("fake",), "engine": ("interface", "fake"), "fake": ("interface",)}
        for module in _imported(path):
            if module.split(".")[1] in above.get(layer, ()):
                found.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert found == []


def test_planning_modules_import_no_ray():
    """plan, list_items and split decide ids, quotas and splits: they load without Ray, the pool or a provider."""
    planning = ", ".join(f"targen_ray.engine.{m}" for m in ("plan", "list_items", "split", "ids"))
    assert _loaded(planning, ("ray", "targen_ray.engine.limits", "targen_ray.engine.pool", "openai")) == []


def test_steps_are_descriptions_that_send_nothing():
    """A step renders requests and reads answers; executors send them: steps load without Ray, the
    pool, a provider's SDK or an executor."""
    names = ("ray", "targen_ray.engine.pool", "targen_ray.engine.execute", "openai", "anthropic")
    assert _loaded("targen_ray.engine.steps", names) == []


def test_the_configuration_loads_without_the_engine():
    """What a user writes (config/: jobs, endpoints, task declarations) is read and checked without Ray,
    the engine, the interface or the fake."""
    config = "targen_ray.config, targen_ray.config.prices, targen_ray.config.kinds"
    assert _loaded(config, ("ray", "pydantic", "targen_ray.engine", "targen_ray.interface", "targen_ray.fake")) == [
        "pydantic"
    ]


def test_only_the_fake_server_command_imports_the_fake():
    """The fake provider serves tests and benchmarks: the package uses it for `targen fake-server` (cli.py)
    and to say which checks a rehearsal on it cannot pass (commands.py), nowhere else."""
    found = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "fake" not in path.relative_to(PACKAGE).parts[:1]
        and re.search(r"from \.+fake\b|targen_ray\.fake\b", path.read_text())
    ]
    assert found == ["interface/cli.py", "interface/commands.py"]


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
        layout = PACKAGE / "engine" / "store" / "layout.py"
        if path == layout or "fake" in path.parts or path == Path(__file__).resolve():
            continue
        found += [
            f"{path.relative_to(root)}:{n}"
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if literal.search(line)
        ]
    assert found == []


def test_every_command_is_a_library_call():
    """The CLI parses and calls: each command's handler (commands.py) calls `targen_ray.interface.api` (or the job API
    module)."""
    from targen_ray.interface import api, commands

    source = Path(commands.__file__).read_text()
    for name in ("plan_run", "plan_retry", "estimate", "export", "analyze", "evaluate", "publish", "verify", "init"):
        assert f"api.{name}(" in source and callable(getattr(api, name))
