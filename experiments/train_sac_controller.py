"""Train the SAC meta-controller over the asset-class sleeves and evaluate the whole hierarchy.

    python experiments/train_sac_controller.py agent.signals_path=outputs/ppo_agents/signals.parquet
    python experiments/train_sac_controller.py debug=smoke      # trains the sleeves' PPO agents first

The same as `python -m hierl.train experiment=hierarchy`.
"""

from hierl.train import main_with_defaults

if __name__ == "__main__":
    main_with_defaults(experiment="hierarchy")
