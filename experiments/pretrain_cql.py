"""Pretrain a CQL policy offline on one asset class; its run folder warm-starts PPO (`agent.init_from`).

    python experiments/pretrain_cql.py asset=equity
    python experiments/pretrain_cql.py asset=equity debug=smoke

The same as `python -m hierl.pretrain_cql` (`hierl-pretrain-cql`) and `python -m hierl.train agent=cql`.
"""

from hierl.pretrain_cql import main

if __name__ == "__main__":
    main()
