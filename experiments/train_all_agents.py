"""`python experiments/train_all_agents.py [overrides]`: CQL per class -> PPO per class x seed -> SAC per seed.

The same `conf/train.yaml` composition as `python -m hierl.train`; the work is `hierl.orchestration.pipeline`.

    python experiments/train_all_agents.py asset_classes=[equity,index] seeds=[0,1,2]
    python experiments/train_all_agents.py stages=[ppo,sac] debug=smoke               # no CQL warm start
    python experiments/train_all_agents.py distributed=true num_workers=4             # units as Ray tasks
    python experiments/train_all_agents.py distributed=true ray.address=<host>:6379   # on an existing cluster
    python experiments/train_all_agents.py hydra.run.dir=<that run>                   # finish what is missing
"""

from __future__ import annotations

from hierl.entrypoint import stage_entrypoint
from hierl.orchestration.pipeline import run_pipeline

main = stage_entrypoint(run_pipeline, title="pipeline: hierarchy (SAC) per seed")

if __name__ == "__main__":
    main()
