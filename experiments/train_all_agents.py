"""`python experiments/train_all_agents.py [overrides]`: the same as `python -m hierl.train_all` (`hierl-train-all`).

CQL per class -> PPO per class x seed -> SAC per seed in one run folder, optionally as Ray tasks; see
`hierl/train_all.py` and docs/distributed.md.

    python experiments/train_all_agents.py multistage.asset_classes=[equity,index] multistage.seeds=[0,1,2]
    python experiments/train_all_agents.py multistage.distributed=true multistage.num_workers=4
"""

from hierl.train_all import main

if __name__ == "__main__":
    main()
