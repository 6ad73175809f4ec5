"""Pretrain a CQL policy offline on one asset class; its run folder warm-starts PPO (`agent.init_from`).

    python experiments/pretrain_cql.py asset=equity
    python experiments/pretrain_cql.py asset=equity debug=smoke
    python experiments/pretrain_cql.py agent.behaviour_ppo_run=outputs/equity/ppo/<run> agent.behaviour_mix.ppo=0.25

The same as `python -m hierl.train agent=cql`.
"""

from hierl.train import main_with_defaults

if __name__ == "__main__":
    main_with_defaults(agent="cql")
