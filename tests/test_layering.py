"""The house's layering, checked on the code itself."""

from __future__ import annotations

import subprocess
import sys


def test_planning_modules_import_no_ray():
    """plan, items and split decide ids, quotas and splits: they load without Ray, the pool or a provider."""
    probe = "import sys, targen_ray.plan, targen_ray.items, targen_ray.split, targen_ray.ids\n"
    probe += "print(sorted(m for m in ('ray', 'targen_ray.limits', 'targen_ray.pool', 'openai') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
