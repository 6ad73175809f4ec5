"""Metrics: PPO's update statistics and the rollouts' mean reward terms, sent to the run's tracker."""

from __future__ import annotations

from typing import Protocol

from stable_baselines3.common.callbacks import BaseCallback

from hierl.rewards.composite import INFO_PREFIX as REWARD_PREFIX


class MetricsSink(Protocol):
    """Where the metrics callback sends values (a `hierl.tracking.trackers.Tracker`)."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None: ...


class MetricsCallback(BaseCallback):
    """Sends PPO's update statistics (losses, KL, clip fraction) and the rollout's mean reward terms to a tracker.

    Reward terms are the `reward/<term>` contributions of the envs' `info`, averaged over each rollout; they are
    also recorded in SB3's logger, so CSV and TensorBoard outputs show them too.
    """

    def __init__(self, sink: MetricsSink) -> None:
        super().__init__(verbose=0)
        self.sink = sink
        # The rollout's sum of each reward term; None until the rollout's first step names the terms.
        self._sums: dict[str, float] | None = None
        self._count = 0
        self._logged_updates = 0

    def _log_update_statistics(self) -> None:
        n_updates = getattr(self.model, "_n_updates", 0)
        if n_updates == self._logged_updates:
            return
        self._logged_updates = n_updates
        values = {k: float(v) for k, v in self.logger.name_to_value.items() if k.startswith("train/")}
        if values:
            self.sink.log(values, step=self.num_timesteps)

    def _on_rollout_start(self) -> None:
        self._log_update_statistics()
        self._sums = None
        self._count = 0

    def _on_step(self) -> bool:
        # Runs at every env step: the term keys are found once per rollout (every step's infos have the same
        # active terms), not by scanning every key of every info.
        infos = self.locals["infos"]
        if self._sums is None:
            self._sums = {key: 0.0 for key in infos[0] if key.startswith(REWARD_PREFIX)}
        sums = self._sums
        for info in infos:
            for key in sums:
                sums[key] += info[key]
        self._count += len(infos)
        return True

    def _on_rollout_end(self) -> None:
        if self._sums is None:  # no step in this rollout
            return
        means = {key: total / self._count for key, total in self._sums.items()}
        for key, value in means.items():
            self.logger.record(key, value)
        self.sink.log(means, step=self.num_timesteps)

    def _on_training_end(self) -> None:
        self._log_update_statistics()
