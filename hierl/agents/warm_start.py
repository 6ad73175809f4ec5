"""Warm starts from a finished CQL run: PPO by behaviour cloning, SAC by copying the networks where they fit.

A CQL run is of one of two kinds, named by `env` in its cql_policy.json (runs without the key are TradingEnv's):
TradingEnv (one asset class; warm-starts PPO, or a SAC acting on the same observations) and PortfolioEnv (the
sleeves; warm-starts the SAC meta-controller, `warm_start_meta_controller`). A run of the other kind, or one
pretrained on other observations, is refused with one line naming `agent.init_from` before any weight is read.

Each function returns a record of the initialisation (what was copied or cloned, and how closely the new policy
follows the CQL policy); the caller saves it in its run folder as `init.json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from d3rlpy.models.torch.parameters import get_parameter
from stable_baselines3 import PPO, SAC
from torch import nn

from hierl.agents.cql import CQL_POLICY_FILE, CQL_WEIGHTS_FILE, CQLPolicy, load_cql_policy, read_policy_file
from hierl.agents.offline_dataset import DATASET_FILE
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.run import SACRunConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import available_asset_classes
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.envs.sleeves import SleeveUniverse
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.run.folder import INIT_FILE as INIT_FILE  # re-exported: named by the run-folder contract
from hierl.tracking.logging import get_logger
from hierl.tracking.run_state import read_state

log = get_logger("agents")

CLONING_STEPS = 1000
CLONING_LEARNING_RATE = 1e-2
CLONING_BATCH_SIZE = 256

# cql_policy.json's `env`: the env a CQL run's dataset was collected in. TradingEnv runs predate the key.
ENV_KEY = "env"
TRADING = "trading"
PORTFOLIO = "portfolio"
_PRETRAIN = {
    TRADING: "an agent on TradingEnv (PPO) warm-starts from a CQL run on TradingEnv of its asset class (`python -m "
    "hierl.train agent=cql asset=<class>`)",
    PORTFOLIO: "the SAC meta-controller warm-starts from a CQL run on its PortfolioEnv (`python -m hierl.train "
    "experiment=hierarchy agent=cql`, with this run's data and sleeve overrides)",
}
# What a meta-controller's warm start refuses when it differs (what its observations are made of), and what it only
# records in init.json (the same observations with other values: other sleeve signals, limits or reward).
OBSERVATION_KEYS = ("asset_classes", "regime_features", "window", "cov_window", "observation_shape")
NOTED_KEYS = ("symbols", "signals", "allocation_limits", "reward")


@dataclass(frozen=True)
class CQLRun:
    """A checked CQL run folder and its policy."""

    run_dir: Path
    policy: CQLPolicy
    meta: dict[str, Any]


def cql_env(meta: Mapping[str, Any]) -> str:
    """The env a CQL run's dataset was collected in (`TRADING` or `PORTFOLIO`), from its cql_policy.json."""
    return str(meta.get(ENV_KEY, TRADING))


def _describe(meta: Mapping[str, Any]) -> str:
    if cql_env(meta) == PORTFOLIO:
        return f"a CQL run on PortfolioEnv (sleeves {', '.join(map(str, meta.get('asset_classes', [])))})"
    return f"a CQL run on TradingEnv (asset class {meta.get('asset_class', 'unknown')})"


def check_cql_folder(run_dir: Path | str, key: str = "agent.init_from", env: str = TRADING) -> dict[str, Any]:
    """cql_policy.json of a finished CQL run folder trained in `env`; else one UserError naming `key` and the fix.

    Reads only run_state.json and cql_policy.json, so an entrypoint can call it before loading any data.
    """
    folder = Path(run_dir)
    hint = "pass the run folder of a finished `python -m hierl.train agent=cql` run"
    if not folder.is_dir():
        raise UserError(f"{key}={folder} is not a folder; {hint}")
    status = read_state(folder).get("status")
    if status != "finished":
        raise UserError(f"{key}={folder} is not a finished run (run_state.json status: {status}); {hint}")
    missing = [name for name in (CQL_POLICY_FILE, CQL_WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{key}={folder} has no {', '.join(missing)}: it is not a CQL run folder; {hint}")
    try:
        meta = read_policy_file(folder)
        meta["observation_shape"] = [int(n) for n in meta["observation_shape"]]
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{key}={folder}: {CQL_POLICY_FILE} is unreadable ({error}); {hint}") from error
    if cql_env(meta) != env:
        raise UserError(f"{key}={folder} is {_describe(meta)}; {_PRETRAIN[env]}")
    return meta


def open_cql_run(
    run_dir: Path | str, observation_shape: tuple[int, ...], key: str = "agent.init_from", env: str = TRADING
) -> CQLRun:
    """The policy of a finished CQL run trained in `env` whose observations have `observation_shape`; else one
    UserError.

    Every check comes before the weights are read, so a wrong folder fails before any training starts.
    """
    meta = check_cql_folder(run_dir, key, env)
    shape = tuple(meta["observation_shape"])
    if shape != tuple(observation_shape):
        raise UserError(
            f"{key}={run_dir} holds a CQL policy for observations of shape {shape}, but this run's observations "
            f"have shape {tuple(observation_shape)}; pretrain CQL with the same env.window, data features and "
            "asset class as this run (see that run's .hydra/config.yaml)"
        )
    return CQLRun(Path(run_dir), load_cql_policy(Path(run_dir)), meta)


def rollout_observations(
    predict: Callable[[np.ndarray], np.ndarray],
    market: MarketData,
    split: str,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
) -> np.ndarray:
    """Observations [K * N, D] met by a deterministic policy over a whole block, every symbol in lock step.

    These are the states the CQL policy itself visits, so cloning on them teaches a new policy to act like
    CQL where CQL's own actions lead (including its position and drawdown context).
    """
    envs = [TradingEnv(market, split, env_cfg, reward_cfg, symbol_index=i) for i in range(market.n_assets)]
    current = np.stack([env.reset()[0] for env in envs])
    seen = []
    for _ in range(len(envs[0].decision_rows)):
        seen.append(current)
        actions = predict(current)
        current = np.stack([env.step(actions[i])[0] for i, env in enumerate(envs)])
    return np.concatenate(seen).astype(np.float32)


def cloning_observations(
    cql_run: Path | str,
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    split: str = "train",
) -> np.ndarray:
    """Observations of the CQL policy's own rollout on `split` (the training block by default)."""
    run = open_cql_run(cql_run, (env_cfg.window * market.n_features + len(CONTEXT_NAMES),))
    return rollout_observations(run.policy.predict, market, split, env_cfg, reward_cfg)


def dataset_observations(cql_run: Path) -> np.ndarray:
    """The observations of a CQL run's offline dataset (offline_dataset.h5, read with d3rlpy's h5 loader)."""
    from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer

    path = cql_run / DATASET_FILE
    if not path.is_file():
        raise UserError(f"{cql_run} has no {DATASET_FILE}; pass observations to clone on explicitly")
    with path.open("rb") as handle:
        buffer = ReplayBuffer.load(handle, InfiniteBuffer())
    return np.concatenate([np.asarray(episode.observations) for episode in buffer.episodes]).astype(np.float32)


def _check_observations(observations: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(observations, dtype=np.float32)
    if array.ndim != 2 or array.shape[1:] != tuple(shape) or len(array) == 0:
        raise UserError(f"observations to clone on must be [N, {shape[0]}], got {array.shape}")
    return array


def action_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two action batches (NaN when either is constant)."""
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.std() == 0.0 or y.std() == 0.0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def clone_actions(
    action_of: Callable[[torch.Tensor], torch.Tensor],
    parameters: Iterable[nn.Parameter],
    observations: np.ndarray,
    targets: np.ndarray,
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> float:
    """Regress `action_of(observations)` onto `targets` by mean squared error; returns the final full-batch MSE."""
    if steps < 1 or batch_size < 1 or not learning_rate > 0.0:
        raise ValueError(
            f"cloning needs steps, batch_size >= 1 and learning_rate > 0: {steps}, {batch_size}, {learning_rate}"
        )
    optimiser = torch.optim.Adam(list(parameters), lr=learning_rate)
    # Decaying to 0 ends on a settled fit: at a constant rate Adam's steps keep the outputs jittering by about as
    # much as the CQL actions vary, which shows up as a poor correlation.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda k: 1.0 - k / steps)
    rng = np.random.default_rng(seed)
    obs = torch.as_tensor(observations)
    target = torch.as_tensor(targets, dtype=torch.float32)
    for _ in range(steps):
        index = torch.as_tensor(rng.integers(len(obs), size=min(batch_size, len(obs))))
        loss = nn.functional.mse_loss(action_of(obs[index]), target[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    with torch.no_grad():
        return float(nn.functional.mse_loss(action_of(obs), target))


def warm_start_ppo(
    model: PPO,
    cql_run: Path | str,
    observations: np.ndarray,
    steps: int = CLONING_STEPS,
    learning_rate: float = CLONING_LEARNING_RATE,
    batch_size: int = CLONING_BATCH_SIZE,
    seed: int = 0,
) -> dict[str, Any]:
    """Behaviour-clone the CQL policy into PPO: its deterministic action (the Gaussian mean) regresses onto
    the CQL actions over `observations` (from the training block). The value net and log-std are left as built;
    PPO's own optimiser state is untouched."""
    shape = tuple(model.observation_space.shape or ())
    run = open_cql_run(cql_run, shape)
    obs = _check_observations(observations, shape)
    targets = run.policy.predict(obs)
    policy = model.policy

    def mean_action(batch: torch.Tensor) -> torch.Tensor:
        return policy.get_distribution(batch).mode()  # the Gaussian's mean, before PPO clips it

    actor = [p for name, p in policy.named_parameters() if "value_net" not in name and name != "log_std"]
    mse = clone_actions(mean_action, actor, obs, targets, steps, learning_rate, batch_size, seed)
    actions, _ = model.predict(obs, deterministic=True)
    return {
        "method": "behaviour_cloning",
        "algorithm": "ppo",
        "cql_run": str(run.run_dir),
        "cql_selected_step": run.meta.get("selected_step"),
        "steps": steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "n_observations": len(obs),
        "final_mse": mse,
        "action_correlation": action_correlation(actions, targets),
    }


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    """Linear layers in registration order: for both libraries' MLPs this is input to output."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _activations(module: nn.Module) -> set[type[nn.Module]]:
    ignored = (nn.Linear, nn.Flatten, nn.Identity, nn.Sequential, nn.ModuleList)
    return {type(m) for m in module.modules() if not list(m.children()) and not isinstance(m, ignored)}


def _copy_layers(source: nn.Module, target: nn.Module) -> list[str] | None:
    """Copy every Linear layer of `source` into `target` when the two MLPs have the same layer shapes and
    activations; returns the target layers' descriptions, or None (nothing copied) when they differ."""
    src, dst = _linear_layers(source), _linear_layers(target)
    same_shapes = len(src) == len(dst) and all(
        a.weight.shape == b.weight.shape and (a.bias is None) == (b.bias is None)
        for a, b in zip(src, dst, strict=False)
    )
    if not same_shapes or _activations(source) != _activations(target):
        return None
    with torch.no_grad():
        for a, b in zip(src, dst, strict=True):
            b.weight.copy_(a.weight)
            if a.bias is not None and b.bias is not None:
                b.bias.copy_(a.bias)
    return [f"{b.in_features}->{b.out_features}" for b in dst]


def _check_action_space(model: SAC, run: CQLRun) -> None:
    """SAC must act in the CQL policy's Box, or copied weights would mean different positions."""
    space = model.action_space
    low = np.asarray(getattr(space, "low", np.nan), dtype=np.float64).ravel().tolist()
    high = np.asarray(getattr(space, "high", np.nan), dtype=np.float64).ravel().tolist()
    if low != run.meta["action_low"] or high != run.meta["action_high"]:
        raise UserError(
            f"agent.init_from={run.run_dir}: the CQL policy acts in Box({run.meta['action_low']}, "
            f"{run.meta['action_high']}) but this SAC acts in {space}; warm-start only an agent with that action space"
        )


def warm_start_sac(
    model: SAC,
    cql_run: Path | str,
    observations: np.ndarray | None = None,
    steps: int = CLONING_STEPS,
    learning_rate: float = CLONING_LEARNING_RATE,
    batch_size: int = CLONING_BATCH_SIZE,
    seed: int = 0,
    env: str = TRADING,
) -> dict[str, Any]:
    """Initialise SB3 SAC from CQL (itself SAC-based): actor, critics, target critics and the entropy
    temperature are copied layer by layer where the architectures match (same hidden units, ReLU, no gSDE);
    an actor that does not match is behaviour-cloned instead, on `observations` or, when None, on the CQL run's
    offline dataset. Critics that do not match keep their fresh initialisation. `env` is the kind of CQL run
    expected (`TRADING`, or `PORTFOLIO` for the meta-controller: see `warm_start_meta_controller`).

    The record's `max_action_gap` and `action_correlation` compare the warm-started actor's deterministic actions
    with the CQL policy's on those observations."""
    shape = tuple(model.observation_space.shape or ())
    run = open_cql_run(cql_run, shape, env=env)
    _check_action_space(model, run)
    cql = run.policy.modules
    record: dict[str, Any] = {
        "algorithm": "sac",
        "cql_run": str(run.run_dir),
        "cql_selected_step": run.meta.get("selected_step"),
        "copied": {},
        "not_copied": [],
    }
    actor_layers = None if model.actor.use_sde else _copy_layers(cql.policy, model.actor)
    if actor_layers is not None:
        record["copied"]["actor"] = actor_layers
    else:
        record["not_copied"].append("actor")
    for i, (q_func, target_q_func) in enumerate(zip(cql.q_funcs, cql.targ_q_funcs, strict=True)):
        if i >= len(model.critic.q_networks):
            break
        layers = _copy_layers(q_func, model.critic.q_networks[i])
        if layers is None:
            record["not_copied"].append(f"critic{i}")
            continue
        record["copied"][f"critic{i}"] = layers
        if _copy_layers(target_q_func, model.critic_target.q_networks[i]) is not None:
            record["copied"][f"critic_target{i}"] = layers
    log_ent_coef = getattr(model, "log_ent_coef", None)  # only a learned temperature (ent_coef="auto") has one
    if isinstance(log_ent_coef, torch.Tensor):
        with torch.no_grad():
            log_ent_coef.copy_(get_parameter(cql.log_temp).reshape(log_ent_coef.shape))
        record["copied"]["entropy_temperature"] = float(torch.exp(log_ent_coef).item())

    obs = _check_observations(dataset_observations(run.run_dir) if observations is None else observations, shape)
    targets = run.policy.predict(obs)
    if actor_layers is None:

        def squashed_action(batch: torch.Tensor) -> torch.Tensor:
            return model.actor(batch, deterministic=True)

        record["method"] = "behaviour_cloning"
        record.update(steps=steps, learning_rate=learning_rate, batch_size=batch_size)
        record["final_mse"] = clone_actions(
            squashed_action, model.actor.parameters(), obs, targets, steps, learning_rate, batch_size, seed
        )
    else:
        record["method"] = "weight_copy"
    actions, _ = model.predict(obs, deterministic=True)
    record["n_observations"] = len(obs)
    record["max_action_gap"] = float(np.abs(np.asarray(actions) - targets).max())
    record["action_correlation"] = action_correlation(actions, targets)
    return record


# --- The SAC meta-controller: CQL pretrained on PortfolioEnv. ---


def sleeve_identity(universe: SleeveUniverse, env_cfg: PortfolioEnvConfig, reward_cfg: RewardConfig) -> dict[str, Any]:
    """What a PortfolioEnv CQL run records in cql_policy.json about the observations and market its policy saw,
    and what a warm-started meta-controller compares with its own (JSON values, so a stored copy compares equal).

    The observation is made of the sleeves (`asset_classes`), the regime features, and windows over realised
    returns (`window`, `cov_window`): those must match (`OBSERVATION_KEYS`, with the shape). The sleeves' symbols,
    their PPO signals (a digest), the allocation limits and the reward may differ (`NOTED_KEYS`): the same
    observations then carry other values, which init.json records.
    """
    signals = hashlib.sha256(np.ascontiguousarray(universe.signals).tobytes()).hexdigest()[:16]
    identity = {
        ENV_KEY: PORTFOLIO,
        "asset_classes": list(universe.classes),
        "regime_features": list(universe.regime_names),
        "window": env_cfg.window,
        "cov_window": env_cfg.cov_window,
        "symbols": list(universe.symbols),
        "signals": signals,
        "allocation_limits": {
            "max_leverage": env_cfg.max_leverage,
            "min_sleeve_weight": env_cfg.min_sleeve_weight,
            "max_sleeve_weight": env_cfg.max_sleeve_weight,
            "turnover_budget": env_cfg.turnover_budget,
            "limit_penalty": env_cfg.limit_penalty,
        },
        "reward": asdict(reward_cfg),
    }
    normalised: dict[str, Any] = json.loads(json.dumps(identity))
    return normalised


def check_portfolio_cql(
    run_dir: Path | str, expected: Mapping[str, Any], key: str = "agent.init_from"
) -> dict[str, Any]:
    """cql_policy.json of a finished PortfolioEnv CQL run whose observation keys (`OBSERVATION_KEYS` present in
    `expected`) equal `expected`'s; else one UserError naming `key`, every difference and the fix."""
    meta = check_cql_folder(run_dir, key, PORTFOLIO)
    differing = [name for name in OBSERVATION_KEYS if name in expected and meta.get(name) != expected[name]]
    if differing:
        detail = "; ".join(f"{name} {meta.get(name)} there, {expected[name]} here" for name in differing)
        raise UserError(
            f"{key}={run_dir} was pretrained on other observations than this meta-controller's ({detail}); pretrain "
            "CQL with the same sleeves (multistage.asset_classes), data features and env.window/env.cov_window: "
            "`python -m hierl.train experiment=hierarchy agent=cql` with this run's overrides"
        )
    return meta


def check_meta_controller_init(cfg: SACRunConfig) -> None:
    """Before any data is loaded or a sleeve trained: `agent.init_from` is a finished PortfolioEnv CQL run of the
    same asset classes and observation windows (one UserError otherwise). The sleeves are the classes the run
    will build, as `hierarchy_run.load_universe` chooses them."""
    if cfg.agent.init_from is None:
        return
    windows = {"window": cfg.env.window, "cov_window": cfg.env.cov_window}
    check_portfolio_cql(cfg.agent.init_from, windows)  # the kind of run and the windows need no data
    chosen = cfg.multistage.asset_classes
    classes = sorted(chosen) if chosen else available_asset_classes(cfg.data, Path(cfg.paths.cache_dir))
    check_portfolio_cql(cfg.agent.init_from, {**windows, "asset_classes": classes})


def warm_start_meta_controller(
    model: SAC,
    cql_run: Path | str,
    universe: SleeveUniverse,
    env_cfg: PortfolioEnvConfig,
    reward_cfg: RewardConfig,
    seed: int = 0,
) -> dict[str, Any]:
    """Warm-start the SAC meta-controller from a PortfolioEnv CQL run (`warm_start_sac`, on the CQL run's own
    offline-dataset observations) after checking that the run saw the same observations; the record adds
    `same_sleeve_signals` and `differences` (the `NOTED_KEYS` whose values differ: there, here)."""
    identity = sleeve_identity(universe, env_cfg, reward_cfg)
    shape = [int(n) for n in model.observation_space.shape or ()]
    meta = check_portfolio_cql(cql_run, {**identity, "observation_shape": shape})
    record = warm_start_sac(model, cql_run, seed=seed, env=PORTFOLIO)
    differences = {
        name: {"cql_run": meta.get(name), "this_run": identity[name]}
        for name in NOTED_KEYS
        if meta.get(name) != identity[name]
    }
    if differences:
        log.warning(
            "warm start from %s: the CQL run saw other %s than this run (see init.json)",
            cql_run,
            ", ".join(differences),
        )
    record["same_sleeve_signals"] = meta.get("signals") == identity["signals"]
    record["differences"] = differences
    return record
