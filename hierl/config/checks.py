"""Every check a composed config can pass or fail without data, run where it becomes dataclasses.

`to_train_config` calls `check_composed_keys` on Hydra's config and `check_train_config` on the dataclasses, so
every entrypoint (train, evaluate, the multi-stage scripts, a stage composing its units, notebooks) refuses a
mistyped key or an out-of-range value in one line, before any data is read or a model is built.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields, is_dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hierl.config.agent import PPOConfig, check_ppo_values
from hierl.config.cql import check_cql_values
from hierl.config.data import check_data_values
from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, check_value
from hierl.config.env import EnvConfig, check_env_values, check_reward_values
from hierl.config.run import AgentConfig, AnyEnvConfig, RayConfig, TrainConfig, check_calendar_values
from hierl.config.sac import SACConfig, check_portfolio_env_values, check_sac_values
from hierl.config.safety import check_safety_values
from hierl.errors import ConfigError

# `multistage.sac_signals`: where the meta-controller's training signals come from (`hierl.orchestration.oof_signals`).
SAC_SIGNALS = ("out_of_fold", "in_sample")
# `multistage.ray.storage`'s modes (`hierl.orchestration.unit_folders`); any other value is a storage location.
STORAGE_MODES = ("shared", "driver")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://.+")


def _unknown_key_error(key: str, schema: type, known: list[str], prefix: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    where = f"{prefix}.{key}" if prefix else key
    hint = f"did you mean {prefix + '.' if prefix else ''}{close[0]}?" if close else f"its keys are {sorted(known)}."
    return ConfigError(
        f"{where} is not a key of {schema.__name__}, so hierl would ignore it; {hint} "
        "(set an existing key without a leading '+')"
    )


def check_composed_keys(node: DictConfig, prefix: str = "") -> None:
    """Refuse keys a `+key=value` override (or a YAML file) added to a schema node that has no such field.

    Hydra lets `+` append a key even to a typed node, and the dataclass then carries it unread: a typo such as
    `+agent.lerning_rate=1e-3` would train silently on the default. Free-form mappings (dict fields such as
    `data.release_lag_days`) may hold any key; typed nodes below them are still checked.
    """
    schema = OmegaConf.get_type(node)
    if isinstance(schema, type) and is_dataclass(schema):
        known = [item.name for item in fields(schema)]
        for key in node:
            if key not in known:
                raise _unknown_key_error(str(key), schema, known, prefix)
    for key, child in node.items_ex(resolve=False):
        if isinstance(child, DictConfig):
            name = str(key)
            check_composed_keys(child, f"{prefix}.{name}" if prefix else name)


def check_agent_values(agent: AgentConfig) -> None:
    """The `agent.*` ranges of whichever agent schema was composed."""
    if isinstance(agent, PPOConfig):
        check_ppo_values(agent)
    elif isinstance(agent, SACConfig):
        check_sac_values(agent)
    else:
        check_cql_values(agent)


def check_env_group(env: AnyEnvConfig) -> None:
    """The `env.*` ranges of whichever env schema was composed."""
    if isinstance(env, EnvConfig):
        check_env_values(env)
    else:
        check_portfolio_env_values(env)


def check_run_values(cfg: TrainConfig) -> None:
    """The run-level numbers: seeds (numpy and torch take no negative seed) and the worker counts."""
    check_value("seed", cfg.seed, NON_NEGATIVE)
    check_calendar_values(cfg.asset.calendar)
    multistage = cfg.multistage
    for index, seed in enumerate(multistage.seeds or []):
        check_value(f"multistage.seeds[{index}]", seed, NON_NEGATIVE)
    check_value("multistage.num_workers", multistage.num_workers, AT_LEAST_ONE)
    check_ray_values(multistage.ray)
    if multistage.sac_signals not in SAC_SIGNALS:
        raise ConfigError(
            f"multistage.sac_signals={multistage.sac_signals!r} is unknown; choose one of {list(SAC_SIGNALS)}"
        )
    check_value("multistage.oof_folds", multistage.oof_folds, AT_LEAST_ONE)
    check_value("multistage.oof_years", multistage.oof_years, POSITIVE)
    if not cfg.evaluate_test and cfg.safety.split == "test":
        # Caught here, before any data or training: the gate would otherwise fail only after the model is trained.
        raise ConfigError(
            "safety.split='test' gates on the test block, which evaluate_test=false skips; "
            "set safety.split=val (or evaluate_test=true)"
        )


def check_ray_values(ray: RayConfig) -> None:
    """`multistage.ray.*`: the CPUs a unit asks for, Ray's retries and where unit folders go."""
    check_value("multistage.ray.cpus_per_worker", ray.cpus_per_worker, POSITIVE)
    check_value("multistage.ray.max_retries", ray.max_retries, NON_NEGATIVE)
    check_ray_storage(ray.storage)


def check_ray_storage(storage: str) -> None:
    """`multistage.ray.storage` is a mode, an absolute path or a URI.

    Which filesystems a URI may name (and whether its credentials work) is pyarrow's to say: a distributed run
    opens the location before any unit starts (`hierl.orchestration.unit_folders.check_storage`). A relative path
    is refused here, since it would name another folder on every node.
    """
    if storage in STORAGE_MODES or Path(storage).is_absolute() or _URI.fullmatch(storage):
        return
    raise ConfigError(
        f"multistage.ray.storage={storage!r} is not a storage mode, an absolute path or a URI; set shared (every "
        "node sees this run folder), driver (unit folders come back through Ray) or a location every node can "
        "write, such as /mnt/nfs/hierl or s3://bucket/prefix"
    )


def check_train_config(cfg: TrainConfig) -> None:
    """Every value with a domain in range: agent, env, reward, safety, data and the run-level keys.

    Reward and safety ranges have their owners beside the code that reads them; they are called from here so
    that they too fail before any data is loaded.
    """
    check_agent_values(cfg.agent)
    check_env_group(cfg.env)
    check_reward_values(cfg.reward)
    check_safety_values(cfg.safety)
    check_data_values(cfg.data)
    check_run_values(cfg)
