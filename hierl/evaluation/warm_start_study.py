"""The old import path of the warm-start study, which now lives in `hierl.reports.warm_start_study`.

Kept only for `experiments/warm_start_study.py`, which still imports from here; import
`hierl.reports.warm_start_study`.
"""

from __future__ import annotations

from hierl.reports.warm_start_study import (
    ARMS,
    INIT_FILE,
    SCRATCH,
    WARM,
    ArmRun,
    StudySummary,
    finite_or_none,
    plot_study,
    read_arm_run,
    study_document,
    summarise_study,
)

__all__ = [
    "ARMS",
    "INIT_FILE",
    "SCRATCH",
    "WARM",
    "ArmRun",
    "StudySummary",
    "finite_or_none",
    "plot_study",
    "read_arm_run",
    "study_document",
    "summarise_study",
]
