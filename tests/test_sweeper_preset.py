"""The Optuna presets compose with hierl's train config and sample only existing, valid agent settings."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution

import hydra_plugins.hierl_optuna_sweeper.config  # noqa: F401  (registers hydra/sweeper/hierl_optuna)
from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hydra_plugins.hierl_optuna_sweeper._factories import build_pruner, build_sampler
from hydra_plugins.hierl_optuna_sweeper._search_space import parse_search_space
from hydra_plugins.hierl_optuna_sweeper.config import PRUNERS, SAMPLERS

PRESETS = {"ppo_optuna": [], "sac_optuna": ["experiment=hierarchy"]}


def compose_preset(preset: str = "ppo_optuna", *overrides: str) -> tuple[dict[str, Any], dict[str, Any]]:
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            "train", overrides=[*PRESETS[preset], f"hparams_search={preset}", *overrides], return_hydra_config=True
        )
    sweeper: Any = OmegaConf.to_container(cfg.hydra.sweeper)
    task: Any = OmegaConf.to_container(cfg, resolve=False)
    return sweeper, task


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_maximises_validation_sharpe_with_a_seeded_tpe_and_a_median_pruner(preset: str) -> None:
    sweeper, task = compose_preset(preset)
    assert task["optimized_metric"] == "val/sharpe"
    assert sweeper["direction"] == "maximize"
    assert sweeper["sampler"]["_target_"] == "optuna.samplers.TPESampler"
    assert sweeper["sampler"]["seed"] is not None
    assert sweeper["pruner"]["_target_"] == "optuna.pruners.MedianPruner"
    assert sweeper["storage"] == "sqlite:///${hydra.sweep.dir}/optuna.db"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_param_is_an_existing_agent_key(preset: str) -> None:
    sweeper, task = compose_preset(preset)
    space = parse_search_space(sweeper["params"], [])
    for param in space.params:
        section, key = param.name.split(".")
        assert section == "agent" and key in task["agent"], param.name


def test_every_sampled_batch_size_fits_every_sampled_rollout() -> None:
    sweeper, _ = compose_preset()
    space = parse_search_space(sweeper["params"], []).distributions
    n_steps, batch_size = space["agent.n_steps"], space["agent.batch_size"]
    assert isinstance(n_steps, CategoricalDistribution) and isinstance(batch_size, CategoricalDistribution)
    for steps, batch, n_envs in itertools.product(n_steps.choices, batch_size.choices, [1, 2, 4, 8]):
        assert isinstance(steps, int) and isinstance(batch, int)
        assert batch <= steps * n_envs and (steps * n_envs) % batch == 0, (steps, batch, n_envs)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("pruner", sorted(PRUNERS))
def test_every_pruner_option_composes_with_every_preset_and_keeps_its_warmup(preset: str, pruner: str) -> None:
    sweeper, _ = compose_preset(preset, f"hydra/sweeper/pruner={pruner}")
    built = build_pruner(OmegaConf.create(sweeper["pruner"]))
    assert type(built).__name__ == PRUNERS[pruner]._target_.rsplit(".", 1)[1]
    assert sweeper["warmup_steps"] > 0, "the preset's warm-up holds whichever pruner is chosen"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_option_composes_with_every_preset_seeded(preset: str, sampler: str) -> None:
    sweeper, task = compose_preset(preset, f"hydra/sweeper/sampler={sampler}", "seed=7")
    node = OmegaConf.create({**sweeper["sampler"], "seed": task["seed"]})
    assert type(build_sampler(node)).__name__ == SAMPLERS[sampler]._target_.rsplit(".", 1)[1]
    assert sweeper["sampler"]["seed"] == "${seed}"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_trials_skip_the_test_block_and_the_summary_says_how_to_test_the_best(preset: str) -> None:
    sweeper, task = compose_preset(preset)
    assert task["evaluate_test"] is False
    assert "{run_dir}" in sweeper["test_command"] or "{overrides} evaluate_test=true" in sweeper["test_command"]


def test_a_single_run_evaluates_the_test_block_by_default() -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        assert compose("train").evaluate_test is True


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_debug_smoke_shrinks_the_study_and_the_command_line_still_wins(preset: str) -> None:
    assert compose_preset(preset)[0]["n_trials"] > 2
    assert compose_preset(preset, "debug=smoke")[0]["n_trials"] == 2
    assert compose_preset(preset, "debug=smoke", "hydra.sweeper.n_trials=5")[0]["n_trials"] == 5
