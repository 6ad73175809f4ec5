"""Steps per second of TradingEnv and TradingVecEnv against a bare numpy loop on the same synthetic arrays.

    PYTHONPATH=. python benchmarks/bench_envs.py --steps 200000

The reference loop is the least any env must do per step (slice a window, book position * return - cost), so
the printed ratio says how much the env's bookkeeping (reward terms, info, episode handling) costs on top.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv


def synthetic_market(n_days: int, n_assets: int, n_features: int, seed: int) -> MarketData:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.01, size=(n_days, n_assets))
    returns[0] = 0.0
    return MarketData(
        asset_class="synthetic",
        dates=np.datetime64("2000-01-03") + np.arange(n_days).astype("timedelta64[D]"),
        symbols=tuple(f"A{i}" for i in range(n_assets)),
        feature_names=tuple(f"f{j}" for j in range(n_features)),
        features=rng.normal(size=(n_days, n_assets, n_features)).astype(np.float32),
        returns=returns,
        prices=100.0 * np.cumprod(1.0 + returns, axis=0),
        mask=np.ones((n_days, n_assets), dtype=bool),
        cash_return=np.full(n_days, 1e-4),
        split_bounds={"train": (0, n_days), "val": (0, n_days), "test": (0, n_days)},
        fingerprint="bench",
    )


def reference_loop(market: MarketData, cfg: EnvConfig, actions: np.ndarray) -> float:
    """Steps per second of the bare minimum on asset 0: window slice, position * return - cost."""
    features, returns = market.features[:, 0, :], market.returns[:, 0]
    trade_rate = (cfg.cost_bps + cfg.slippage_bps) * 1e-4
    first, last = cfg.window - 1, len(returns) - 2
    row, position, pnl = first, 0.0, 0.0
    started = time.perf_counter()
    for action in actions:
        observation = features[row - cfg.window + 1 : row + 1].ravel()
        target = float(action[0]) * cfg.max_leverage
        pnl += target * returns[row + 1] - trade_rate * abs(target - position) + 0.0 * observation[0]
        position = target
        row = first if row >= last else row + 1
    return len(actions) / (time.perf_counter() - started)


def trading_env_rate(market: MarketData, cfg: EnvConfig, reward: RewardConfig, actions: np.ndarray) -> float:
    env = TradingEnv(market, "train", cfg, reward, seed=0)
    env.reset()
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - started)


def vector_env_rate(
    market: MarketData, cfg: EnvConfig, reward: RewardConfig, n_envs: int, n_steps: int, seed: int
) -> float:
    """Asset-steps per second: each vectorised step advances `n_envs` episodes."""
    vec = TradingVecEnv(market, "train", cfg, reward, n_envs=n_envs, seed=seed)
    vec.reset()
    actions = np.random.default_rng(seed).uniform(-1, 1, size=(n_steps, n_envs, 1)).astype(np.float32)
    started = time.perf_counter()
    for step_actions in actions:
        vec.step(step_actions)
    return n_steps * n_envs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--assets", type=int, default=10)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    market = synthetic_market(args.days, args.assets, args.features, args.seed)
    cfg = EnvConfig(window=args.window)
    reward = RewardConfig()
    actions = np.random.default_rng(args.seed).uniform(-1, 1, size=(args.steps, 1)).astype(np.float32)

    reference = reference_loop(market, cfg, actions)
    single = trading_env_rate(market, cfg, reward, actions)
    vectorised = vector_env_rate(market, cfg, reward, args.n_envs, max(1, args.steps // args.n_envs), args.seed)
    print(f"arrays: {args.days} days x {args.assets} assets x {args.features} features, window {args.window}")
    print(f"reference numpy loop      {reference:>12,.0f} steps/s")
    print(f"TradingEnv                {single:>12,.0f} steps/s   ratio to reference {single / reference:.2f}")
    print(
        f"TradingVecEnv ({args.n_envs:>3} envs)  {vectorised:>12,.0f} asset-steps/s "
        f"  ratio to reference {vectorised / reference:.2f}"
    )


if __name__ == "__main__":
    main()
