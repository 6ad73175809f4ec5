"""The reward terms of `terms.py` for K episodes stepped together, as numpy arrays of shape [K].

Same formulas, same order of floating-point operations where it matters; a vectorised env uses these so one
numpy call serves every episode. `reset(which)` restarts the episodes where the boolean mask `which` is True.

On the small batches an env steps, each numpy call costs about as much as its arithmetic, so the terms keep the
number of calls per step low: the rolling windows share one ring position for all episodes (see
`BatchedVolatilityTerm`), and constants are 0-d arrays, which numpy combines with arrays faster than Python
floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from hierl.config.env import RewardConfig, check_reward_values
from hierl.rewards.composite import INFO_PREFIX, signed_weights, term_arguments


class BatchedRewardTerm(Protocol):
    name: str

    def reset(self, which: np.ndarray) -> None: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray: ...


def _restored(value: Any, like: np.ndarray) -> np.ndarray:
    """A copy of a saved array, checked against the shape and dtype of the array it replaces."""
    array = np.array(value, dtype=like.dtype)
    if array.shape != like.shape:
        raise ValueError(f"saved reward state has shape {array.shape}, this reward needs {like.shape}")
    return array


class BatchedStatelessTerm:
    """Base of the terms whose value depends on the current step only: nothing to reset, save or restore."""

    def reset(self, which: np.ndarray) -> None:
        pass

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


class BatchedReturnTerm(BatchedStatelessTerm):
    name = "return"

    def __init__(self, excess: bool, n_envs: int) -> None:
        self.excess = excess

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        # The input itself when it needs no change: `BatchedRewardFunction` multiplies it into a new array.
        return net_return - reference_return if self.excess else net_return


class BatchedVolatilityTerm:
    """Rolling population std of each episode's last `window` net returns, via ring buffers and running sums.

    All episodes step together, so one ring position `step % window` serves them all: an episode that restarted
    s steps ago wrote the s slots before that position, and the slot being overwritten holds either its return
    of `window` steps ago or the 0.0 its reset left. That is the value a per-episode ring would drop, so the sums
    are the same, and the ring is read and written as one row instead of a gather.
    """

    name = "volatility"

    def __init__(self, window: int, n_envs: int) -> None:
        self.window = window
        self._buffer = np.zeros((window, n_envs))  # slot-major, so that a slot is one contiguous row
        self._step = 0
        self._count = np.zeros(n_envs, dtype=np.int64)
        self._sum = np.zeros(n_envs)
        self._sum_sq = np.zeros(n_envs)
        self._window = np.array(window)
        self._one = np.array(1)
        self._zero = np.array(0.0)

    def reset(self, which: np.ndarray) -> None:
        self._buffer[:, which] = 0.0
        self._count[which] = 0
        self._sum[which] = 0.0
        self._sum_sq[which] = 0.0

    def get_state(self) -> dict[str, Any]:
        return {
            "buffer": self._buffer.copy(),
            "step": self._step,
            "count": self._count.copy(),
            "sum": self._sum.copy(),
            "sum_sq": self._sum_sq.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._buffer = _restored(state["buffer"], self._buffer)
        self._step = int(state["step"])
        self._count = _restored(state["count"], self._count)
        self._sum = _restored(state["sum"], self._sum)
        self._sum_sq = _restored(state["sum_sq"], self._sum_sq)

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        leaving = self._buffer[self._step % self.window]
        self._step += 1
        self._sum -= leaving
        self._sum_sq -= leaving * leaving
        leaving[...] = net_return
        self._sum += net_return
        self._sum_sq += net_return * net_return
        self._count += self._one
        # With one return since the reset, sum = r and sum_sq = r * r exactly (the reset zeroed sums and slots), so
        # the variance below is exactly 0.0: the "0 before two returns" rule needs no mask of its own.
        n = np.minimum(self._count, self._window)
        mean = self._sum / n
        variance = np.maximum(self._sum_sq / n - mean * mean, self._zero)
        return np.sqrt(variance)


class BatchedDrawdownTerm:
    name = "drawdown"

    def __init__(self, n_envs: int) -> None:
        self._previous = np.zeros(n_envs)

    def reset(self, which: np.ndarray) -> None:
        self._previous[which] = 0.0

    def get_state(self) -> dict[str, Any]:
        return {"previous": self._previous.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._previous = _restored(state["previous"], self._previous)

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        increase = drawdown - self._previous
        self._previous = drawdown.copy()
        return np.maximum(increase, 0.0)


class BatchedTurnoverTerm(BatchedStatelessTerm):
    name = "turnover"

    def __init__(self, n_envs: int) -> None:
        pass

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        return turnover  # multiplied into a new array by `BatchedRewardFunction`


class BatchedDifferentialSharpeTerm:
    name = "differential_sharpe"
    _MIN_VARIANCE = 1e-12

    def __init__(self, eta: float, n_envs: int) -> None:
        self.eta = eta
        self._mean = np.zeros(n_envs)
        self._second_moment = np.zeros(n_envs)

    def reset(self, which: np.ndarray) -> None:
        self._mean[which] = 0.0
        self._second_moment[which] = 0.0

    def get_state(self) -> dict[str, Any]:
        return {"mean": self._mean.copy(), "second_moment": self._second_moment.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._mean = _restored(state["mean"], self._mean)
        self._second_moment = _restored(state["second_moment"], self._second_moment)

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        delta_mean = net_return - self._mean
        delta_second = net_return * net_return - self._second_moment
        variance = self._second_moment - self._mean * self._mean
        valid = variance > self._MIN_VARIANCE
        safe_variance = np.where(valid, variance, 1.0)
        value = (self._second_moment * delta_mean - 0.5 * self._mean * delta_second) / safe_variance**1.5
        self._mean += self.eta * delta_mean
        self._second_moment += self.eta * delta_second
        return np.where(valid, value, 0.0)


class BatchedCVaRTerm:
    """Rolling CVaR loss per episode; empty slots hold +inf so a row sort puts the real returns first.

    The ring position is shared by all episodes, as in `BatchedVolatilityTerm`; the sort makes the order of a
    row's slots irrelevant anyway.
    """

    name = "cvar"

    def __init__(self, window: int, alpha: float, n_envs: int) -> None:
        self.window = window
        self.alpha = alpha
        self._buffer = np.full((n_envs, window), np.inf)
        self._step = 0
        self._count = np.zeros(n_envs, dtype=np.int64)
        self._envs = np.arange(n_envs)

    def reset(self, which: np.ndarray) -> None:
        self._buffer[which] = np.inf
        self._count[which] = 0

    def get_state(self) -> dict[str, Any]:
        return {"buffer": self._buffer.copy(), "step": self._step, "count": self._count.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._buffer = _restored(state["buffer"], self._buffer)
        self._step = int(state["step"])
        self._count = _restored(state["count"], self._count)

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> np.ndarray:
        self._buffer[:, self._step % self.window] = net_return
        self._step += 1
        self._count += 1
        n = np.minimum(self._count, self.window)
        # Same rounding guard as `terms.cvar_tail_size`.
        tail_size = np.maximum(1, np.ceil(self.alpha * n - 1e-9).astype(np.int64))
        tail_sums = np.cumsum(np.sort(self._buffer, axis=1), axis=1)[self._envs, tail_size - 1]
        return np.maximum(-tail_sums / tail_size, 0.0)


BATCHED_TERMS: dict[str, Callable[..., BatchedRewardTerm]] = {
    "return": BatchedReturnTerm,
    "volatility": BatchedVolatilityTerm,
    "drawdown": BatchedDrawdownTerm,
    "turnover": BatchedTurnoverTerm,
    "differential_sharpe": BatchedDifferentialSharpeTerm,
    "cvar": BatchedCVaRTerm,
}


def make_batched_term(name: str, cfg: RewardConfig, n_envs: int) -> BatchedRewardTerm:
    """The batched term called `name` for `n_envs` episodes, from the same config values as its episode form."""
    arguments = term_arguments(name, cfg)
    return BATCHED_TERMS[name](**arguments, n_envs=n_envs)


class BatchedRewardFunction:
    """`RewardFunction` for K episodes: returns the [K] rewards and each term's [K] contributions."""

    def __init__(self, cfg: RewardConfig, n_envs: int) -> None:
        check_reward_values(cfg)
        # Weights as 0-d arrays: multiplying by them is the same float64 product, with less call overhead.
        self._terms = [
            (INFO_PREFIX + name, np.array(weight), make_batched_term(name, cfg, n_envs))
            for name, weight in signed_weights(cfg).items()
        ]
        self.info_keys = tuple(key for key, _, _ in self._terms)
        self.n_envs = n_envs

    def reset(self, which: np.ndarray) -> None:
        for _, _, term in self._terms:
            term.reset(which)

    def get_state(self) -> dict[str, Any]:
        """Each active term's running state by info key, as plain data: copies of its [K] arrays, ring buffers
        and counters (constants such as windows come from the config, not the state)."""
        return {key: term.get_state() for key, _, term in self._terms}

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back what `get_state` returned; the terms must be those of the same `RewardConfig`."""
        if set(state) != set(self.info_keys):
            raise ValueError(f"reward state holds terms {sorted(state)}, this reward has {sorted(self.info_keys)}")
        for key, _, term in self._terms:
            term.set_state(state[key])

    def __call__(
        self, net_return: np.ndarray, reference_return: np.ndarray, turnover: np.ndarray, drawdown: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        total = None
        contributions = {}
        for key, weight, term in self._terms:
            contribution = weight * term(net_return, reference_return, turnover, drawdown)
            contributions[key] = contribution
            total = contribution if total is None else total + contribution
        if total is None:  # every weight is zero
            total = np.zeros(self.n_envs)
        return total, contributions
