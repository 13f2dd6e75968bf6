"""The run directory, the only state of a run (run_dir.py); its files (files.py), the names of its folders
(layout.py), and the Parquet parts stages append and compaction merges (parts.py)."""

from .files import release_memory, row_group_rows, row_groups
from .layout import RUN_FILE
from .parts import Rewrite
from .run_dir import RunDir, stamp

__all__ = ["RUN_FILE", "Rewrite", "RunDir", "release_memory", "row_group_rows", "row_groups", "stamp"]
