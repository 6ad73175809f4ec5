"""`python experiments/train_ppo_agents.py [overrides]`: the same as `python -m hierl.train_ppo_agents`
(`hierl-train-ppo-agents`).

One PPO agent per asset class (and seed) in `<run>/ppo/<class>/`, then `<run>/signals.parquet`; see
`hierl/train_ppo_agents.py` and docs/hierarchy.md.

    python experiments/train_ppo_agents.py data=synthetic multistage.asset_classes=[equity,commodity] \\
        multistage.seeds=[0,1,2]
    python experiments/train_ppo_agents.py hydra.run.dir=<that run>               # reuse its finished units
"""

from hierl.train_ppo_agents import main

if __name__ == "__main__":
    main()
