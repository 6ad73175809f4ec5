"""`python experiments/walk_forward.py [overrides]`: the same as `python -m hierl.walk_forward`.

Every fold trains (PPO per class, then the SAC meta-controller on out-of-fold signals), selects on its own
validation block and tests once on its own test block; the test segments stitch into one out-of-sample record
(`oos_backtest.parquet`, `metrics.json`). See docs/walk_forward.md.

    python experiments/walk_forward.py debug=smoke data=synthetic walk_forward.folds=2 walk_forward.train_years=4
    python experiments/walk_forward.py walk_forward.stages=[ppo] walk_forward.asset_classes=[equity]
    python experiments/walk_forward.py hydra.run.dir=<that run> resume=true       # finish an interrupted run
"""

from __future__ import annotations

from hierl.walk_forward import main

if __name__ == "__main__":
    main()
