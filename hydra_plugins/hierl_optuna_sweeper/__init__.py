"""hierl's Optuna sweeper for Hydra (`override /hydra/sweeper: hierl_optuna`).

Hydra imports every public module of `hydra_plugins` when any app starts; modules whose names start with `_` are
skipped by that scan, so they hold everything that imports Optuna and apps that never sweep do not pay for it.
Public: `sweeper.HierlOptunaSweeper`, the schemas in `config`, `reporting.current_trial_reporter` for jobs, and the
errors in `errors`.
"""
