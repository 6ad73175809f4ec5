"""When validation and checkpoints fall due: at rollout boundaries, every so many timesteps.

Validation and checkpoints happen at rollout boundaries (`_on_rollout_start`, after the previous update), where
the whole training state is consistent: a run resumed from a checkpoint then repeats the uninterrupted run
exactly, and every validated model is a fully updated one.
"""

from __future__ import annotations


class BoundarySchedule:
    """Every `every` timesteps, checked at rollout boundaries (validation, checkpoints).

    Boundaries fall every `n_steps x n_envs` timesteps, rarely on a multiple of `every`: the schedule is due at the
    first boundary at or past each due point, and once only when one rollout spans several of them.
    """

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.next_due = self.every

    def due(self, timesteps: int) -> bool:
        """Whether `timesteps` reached the next due point; moves that point past `timesteps`."""
        if timesteps < self.next_due:
            return False
        while self.next_due <= timesteps:
            self.next_due += self.every
        return True
