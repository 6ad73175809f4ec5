"""`python -m hierl.pretrain_cql [overrides]` (`hierl-pretrain-cql`): pretrain a CQL policy offline on one asset
class; its run folder warm-starts PPO (`agent.init_from`).

    python -m hierl.pretrain_cql asset=equity
    python -m hierl.pretrain_cql asset=equity debug=smoke
    python -m hierl.pretrain_cql agent.behaviour_ppo_run=outputs/equity/ppo/<run> agent.behaviour_mix.ppo=0.25

The same as `python -m hierl.train agent=cql` (an `agent=` of your own wins).
"""

from __future__ import annotations

from hierl.train import hydra_main, run_command

USAGE = "python -m hierl.pretrain_cql [overrides]  (hierl-pretrain-cql): offline CQL pretraining (agent=cql)"


def main() -> None:
    """Console-script entry (`hierl-pretrain-cql`)."""
    run_command(hydra_main, USAGE, {"agent": "cql"})


if __name__ == "__main__":
    main()
