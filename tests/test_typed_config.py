"""The composed config is typed per stage, multi-stage keys live in `multistage`, and unit configs are copies.

A multi-stage run composes each class's YAML once and builds every unit's config with `dataclasses.replace`
(seed, warm start, signals, folder); these tests hold that to the configs the same units got when each was
composed from its own override list, field for field, so the restructuring cannot change what a unit trains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hydra import initialize_config_dir

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig
from hierl.config.loading import load_config
from hierl.config.moved_keys import MOVED_KEYS, rename_moved_keys, renamed
from hierl.config.paths import config_dir
from hierl.config.run import TrainConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.config.stages import cql_portfolio_run, cql_run, cql_trading_run, ppo_run, sac_run
from hierl.config.store import register_configs
from hierl.errors import ConfigError
from hierl.orchestration.pipeline import Pipeline, compose_stage_configs
from hierl.orchestration.ppo_stage import (
    compose_config,
    execution_config,
    plan_ppo_jobs,
    with_output_dir,
    with_seed,
)

CLASSES = ["commodity", "equity"]
USER = [
    "paths.output_dir=unused",
    "debug=smoke",
    "data=synthetic",
    "reward.volatility_penalty=0.3",
    "agent.learning_rate=1e-3",
    "seed=7",
]


@pytest.fixture
def hydra_app() -> Iterator[None]:
    """A Hydra context like the one a multi-stage entrypoint runs its job in."""
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield


def test_each_stage_is_narrowed_to_its_own_typed_config() -> None:
    ppo, sac, cql = load_config([]), load_config(["experiment=hierarchy"]), load_config(["agent=cql"])
    assert isinstance(ppo_run(ppo).agent, PPOConfig) and isinstance(ppo_run(ppo).env, EnvConfig)
    assert isinstance(sac_run(sac).agent, SACConfig) and isinstance(sac_run(sac).env, PortfolioEnvConfig)
    assert isinstance(cql_run(cql).agent, CQLConfig)
    # agent=cql runs on either env: TradingEnv (warm-starts PPO) or the meta-controller's PortfolioEnv (SAC).
    cql_portfolio = load_config(["agent=cql", "env=portfolio"])
    assert cql_run(cql_portfolio) is cql_portfolio
    assert isinstance(cql_portfolio_run(cql_portfolio).env, PortfolioEnvConfig)
    assert isinstance(cql_trading_run(cql).env, EnvConfig)
    assert ppo_run(ppo) is ppo  # narrowing checks, it does not copy


@pytest.mark.parametrize(
    ("overrides", "narrow", "message"),
    [
        (["agent=sac"], ppo_run, "agent=sac is not trainable"),
        (["env=portfolio"], ppo_run, "agent=ppo trains single assets in env=trading, not env=portfolio"),
        (["agent=sac"], sac_run, "agent=sac allocates across sleeves in env=portfolio, not env=trading"),
        (["agent=ppo"], cql_run, "pretrain_cql needs agent=cql, got agent=ppo"),
        (["agent=cql", "env=portfolio"], cql_trading_run, "not env=portfolio"),
        (["agent=cql"], cql_portfolio_run, "not env=trading"),
    ],
)
def test_an_agent_and_env_that_do_not_go_together_are_one_config_error(
    overrides: list[str], narrow: object, message: str
) -> None:
    config = load_config(overrides)
    with pytest.raises(ConfigError, match=message):
        narrow(config)  # type: ignore[operator]


def test_a_bare_train_job_narrows_inside_the_job_so_the_error_is_the_runs(tmp_path: Path) -> None:
    from hierl.train import job_for

    job = job_for(load_config(["env=portfolio"]), tmp_path)  # choosing the stage raises nothing yet
    with pytest.raises(ConfigError, match="env=trading, not env=portfolio"):
        job()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("seeds=[0,1]", "multistage.seeds=[0,1]"),
        ("+stage_overrides.sac=[]", "+multistage.stage_overrides.sac=[]"),
        ("ray.address=host:6379", "multistage.ray.address=host:6379"),
        ("~asset_classes", "~multistage.asset_classes"),
        ("distributed=true", "multistage.distributed=true"),
        ("seed=3", "seed=3"),
        ("agent.n_steps=64", "agent.n_steps=64"),
        ("multistage.seeds=[2]", "multistage.seeds=[2]"),
        ("hydra.run.dir=/tmp/seeds=[0]", "hydra.run.dir=/tmp/seeds=[0]"),
    ],
)
def test_a_moved_key_is_renamed_and_nothing_else_is(before: str, after: str) -> None:
    assert renamed(before) == after


def test_old_command_lines_configure_the_multistage_section(capsys: pytest.CaptureFixture[str]) -> None:
    old = load_config(["seeds=[1,2]", "num_workers=3", "distributed=true", "ray.cpus_per_worker=0.5"])
    new = load_config(["multistage.seeds=[1,2]", "multistage.num_workers=3", "multistage.distributed=true"])
    assert old.multistage.seeds == new.multistage.seeds == [1, 2]
    assert execution_config(old).num_workers == 3 and execution_config(old).cpus_per_worker == 0.5
    assert execution_config(old).distributed and execution_config(new).distributed
    assert "note: seeds is now multistage.seeds" in capsys.readouterr().err
    assert set(MOVED_KEYS) == {
        "asset_classes",
        "seeds",
        "stages",
        "stage_overrides",
        "distributed",
        "num_workers",
        "ray",
    }
    assert rename_moved_keys(["asset=index"]) == ["asset=index"]


def test_the_hierarchy_reads_its_sleeve_classes_from_the_multistage_section() -> None:
    cfg = load_config(["experiment=hierarchy", "multistage.asset_classes=[equity]"])
    assert cfg.multistage.asset_classes == ["equity"]


SMOKE = {"total_timesteps": 2048, "batch_size": 64, "eval_freq": 1024, "checkpoint_freq": 1024, "net_arch": [16, 16]}


@pytest.mark.parametrize(
    ("overrides", "own"),
    [
        ([], {"n_steps": 256, "n_epochs": 1, "n_envs": 2}),
        (["experiment=hierarchy"], {"n_envs": 2}),
        (["agent=cql"], {"n_steps": 256}),
    ],
)
def test_debug_smoke_shrinks_each_agent_by_its_own_keys(overrides: list[str], own: dict[str, int]) -> None:
    agent = load_config([*overrides, "debug=smoke"]).agent
    full = load_config(overrides).agent
    for key, value in {**SMOKE, **own}.items():
        assert getattr(agent, key) == value, key
    untouched = {k for k in vars(full) if k not in SMOKE and k not in own}
    assert {k: getattr(agent, k) for k in untouched} == {k: getattr(full, k) for k in untouched}


def test_debug_smoke_still_gives_way_to_the_command_line() -> None:
    agent = load_config(["debug=smoke", "agent.n_steps=512"]).agent
    assert isinstance(agent, PPOConfig) and agent.n_steps == 512 and agent.n_epochs == 1


def composed(overrides: Sequence[str], output_dir: Path | None = None) -> TrainConfig:
    cfg = compose_config(overrides)
    return with_output_dir(cfg, output_dir) if output_dir is not None else cfg


def test_per_seed_units_are_the_configs_each_unit_composed_alone(hydra_app: None, tmp_path: Path) -> None:
    base = [o for o in USER if not o.startswith("seed=")]
    class_cfgs = {c: ppo_run(compose_config([*base, f"asset={c}"])) for c in CLASSES}
    jobs = plan_ppo_jobs(class_cfgs, [0, 3], tmp_path)
    for job in jobs:
        alone = composed([*base, f"asset={job.asset_class}", f"seed={job.seed}"], job.run_dir)
        assert job.cfg == alone
    assert {(j.asset_class, j.seed) for j in jobs} == {(c, s) for c in CLASSES for s in (0, 3)}


def test_pipeline_units_are_the_configs_each_unit_composed_alone(hydra_app: None, tmp_path: Path) -> None:
    stage_extra = {"cql": ["agent.n_steps=64"], "ppo": ["agent.n_epochs=2"], "sac": ["agent.batch_size=32"]}
    outer = compose_config(USER)
    outer = dataclasses.replace(outer, multistage=dataclasses.replace(outer.multistage, stage_overrides=stage_extra))
    stages = ["cql", "ppo", "sac"]
    pipeline = Pipeline(
        outer=outer,
        configs=compose_stage_configs(outer, USER, stages, CLASSES),
        run_dir=tmp_path,
        stages=stages,
        classes=CLASSES,
        seeds=[0, 1],
        execution=execution_config(outer),
    )
    for_cql = [o for o in USER if not o.startswith(("agent.", "seed="))]
    for_sac = [o for o in for_cql if not o.startswith("reward.")]
    for c in CLASSES:
        cql_overrides = [*for_cql, "agent=cql", "env=trading", f"asset={c}", "agent.n_steps=64"]
        cql_alone = composed(cql_overrides, tmp_path / "cql" / c)
        assert pipeline.cql_config(c) == cql_alone
    cql_runs = {"equity": tmp_path / "cql" / "equity"}
    # (plan_ppo_jobs would also check that the CQL folder is a finished run; here only the configs matter.)
    ppo_base = [o for o in USER if not o.startswith("seed=")]
    for asset_class, class_cfg in pipeline.ppo_configs(cql_runs).items():
        warm = [f"agent.init_from={cql_runs[asset_class]}"] if asset_class in cql_runs else []
        for seed in (0, 1):
            overrides = [*ppo_base, "agent=ppo", "env=trading", f"asset={asset_class}", f"seed={seed}", *warm]
            assert with_seed(class_cfg, seed) == composed([*overrides, "agent.n_epochs=2"])
    signals = tmp_path / "ppo" / "signals_seed_1.parquet"
    sac_alone = composed(
        [
            *for_sac,
            "experiment=hierarchy",
            "seed=1",
            f"agent.signals_path={signals}",
            f"multistage.asset_classes=[{','.join(CLASSES)}]",
            "agent.batch_size=32",
        ],
        tmp_path / "sac" / "seed_1",
    )
    assert pipeline.sac_config(1, signals) == sac_alone
