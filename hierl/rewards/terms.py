"""Reward terms of one episode, each a small stateful object with one job.

Every term sees the same per-step facts, as plain floats: the step's net return (costs included), the reference
return of the same period (cash, or the env's benchmark: see `RewardConfig.excess_reference`), the turnover
traded and the episode drawdown after the step. Terms are causal: a
value at step k uses only steps 0..k of the current episode. They run on Python floats because an env step
calls each of them once, and numpy on scalars would cost more than the whole accounting: the batched form of
the same reward (`batched.py`) called on one episode takes about 11 times as long as this one, which would make
a `TradingEnv` step several times slower. Each term here has its batched twin, built from the same config values
(`composite.term_arguments`); the tests hold the two equal step for step. Every term saves and restores its
running state as plain data (`get_state` / `set_state`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Any, Protocol


def cvar_tail_size(alpha: float, n_returns: int) -> int:
    """Number of worst returns averaged by the CVaR: ceil(alpha * n), at least 1.

    The small tolerance keeps float products like 0.05 * 60 = 3.0000000000000004 from rounding up.
    """
    return max(1, math.ceil(alpha * n_returns - 1e-9))


class RewardTerm(Protocol):
    """One additive component of the reward; `reset` starts a new episode."""

    name: str

    def reset(self) -> None: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float: ...


class StatelessTerm:
    """Base of the terms whose value depends on the current step only: nothing to reset, save or restore."""

    def reset(self) -> None:
        pass

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


class ReturnTerm(StatelessTerm):
    """The net return of the step, optionally in excess of the reference return (cash, so that holding cash scores
    zero; or a benchmark, so that matching the benchmark scores zero)."""

    name = "return"

    def __init__(self, excess: bool = False) -> None:
        self.excess = excess

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        return net_return - reference_return if self.excess else net_return


class VolatilityTerm:
    """Population standard deviation of the last `window` net returns of the episode (0 before two returns).

    A ring buffer with running sums keeps the step O(1) whatever the window.
    """

    name = "volatility"

    def __init__(self, window: int) -> None:
        self.window = window
        self.reset()

    def reset(self) -> None:
        self._buffer = [0.0] * self.window
        self._count = 0
        self._sum = 0.0
        self._sum_sq = 0.0

    def get_state(self) -> dict[str, Any]:
        return {"buffer": list(self._buffer), "count": self._count, "sum": self._sum, "sum_sq": self._sum_sq}

    def set_state(self, state: dict[str, Any]) -> None:
        self._buffer = [float(value) for value in state["buffer"]]
        self._count = int(state["count"])
        self._sum = float(state["sum"])
        self._sum_sq = float(state["sum_sq"])

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        # Runs once per env step, so the state is read into locals and written back once: attribute traffic
        # was half the cost of this call. The sums are updated in the same order as before (leave, then enter).
        window = self.window
        count = self._count
        total = self._sum
        total_sq = self._sum_sq
        slot = count % window
        if count >= window:
            leaving = self._buffer[slot]
            total -= leaving
            total_sq -= leaving * leaving
        self._buffer[slot] = net_return
        total += net_return
        total_sq += net_return * net_return
        count += 1
        self._count = count
        self._sum = total
        self._sum_sq = total_sq
        n = count if count < window else window
        if n < 2:
            return 0.0
        mean = total / n
        variance = total_sq / n - mean * mean
        if variance < 0.0:  # rounding can push a flat window's variance a hair below zero
            variance = 0.0
        return math.sqrt(variance)


class DrawdownTerm:
    """How much the step deepened the episode drawdown; recoveries score zero rather than a bonus."""

    name = "drawdown"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._previous = 0.0

    def get_state(self) -> dict[str, Any]:
        return {"previous": self._previous}

    def set_state(self, state: dict[str, Any]) -> None:
        self._previous = float(state["previous"])

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        increase = drawdown - self._previous
        self._previous = drawdown
        return increase if increase > 0.0 else 0.0


class TurnoverTerm(StatelessTerm):
    """Notional traded in the step, as a fraction of NAV (the costs themselves are already in the return)."""

    name = "turnover"

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        return turnover


class DifferentialSharpeTerm:
    """Differential Sharpe ratio (Moody & Saffell, 1998): the first-order effect of this step on an
    exponentially weighted Sharpe ratio with adaptation rate `eta`.

    With moving moments A (mean) and B (second moment) before the step and R the net return,
    D = (B dA - A dB / 2) / (B - A^2)^(3/2), dA = R - A, dB = R^2 - B; then A += eta dA, B += eta dB.
    D is 0 while the moving variance is still (numerically) zero, i.e. on the first step of an episode.
    """

    name = "differential_sharpe"
    _MIN_VARIANCE = 1e-12

    def __init__(self, eta: float) -> None:
        self.eta = eta
        self.reset()

    def reset(self) -> None:
        self._mean = 0.0
        self._second_moment = 0.0

    def get_state(self) -> dict[str, Any]:
        return {"mean": self._mean, "second_moment": self._second_moment}

    def set_state(self, state: dict[str, Any]) -> None:
        self._mean = float(state["mean"])
        self._second_moment = float(state["second_moment"])

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        delta_mean = net_return - self._mean
        delta_second = net_return * net_return - self._second_moment
        variance = self._second_moment - self._mean * self._mean
        value = 0.0
        if variance > self._MIN_VARIANCE:
            value = (self._second_moment * delta_mean - 0.5 * self._mean * delta_second) / variance**1.5
        self._mean += self.eta * delta_mean
        self._second_moment += self.eta * delta_second
        return value


class CVaRTerm:
    """Rolling conditional value at risk of the episode's net returns, as a positive loss (0 when the tail gains).

    Over the last n <= `window` returns, the mean of the ceil(alpha * n) worst ones, negated and floored at 0.
    """

    name = "cvar"

    def __init__(self, window: int, alpha: float) -> None:
        self.window = window
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self._recent: deque[float] = deque(maxlen=self.window)

    def get_state(self) -> dict[str, Any]:
        return {"recent": list(self._recent)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._recent = deque((float(value) for value in state["recent"]), maxlen=self.window)

    def __call__(self, net_return: float, reference_return: float, turnover: float, drawdown: float) -> float:
        self._recent.append(net_return)
        tail_size = cvar_tail_size(self.alpha, len(self._recent))
        tail = heapq.nsmallest(tail_size, self._recent)
        loss = -sum(tail) / tail_size
        return loss if loss > 0.0 else 0.0
