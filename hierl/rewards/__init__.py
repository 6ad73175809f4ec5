"""Reward terms and their weighted composition, configured by `RewardConfig`: each term in an episode form
(`terms`, Python floats, for the gymnasium envs) and a batched form (`batched`, [K] arrays, for the vectorised
env), both built from the same config values (`composite.term_arguments`)."""

from hierl.errors import RewardConfigError
from hierl.rewards.batched import BatchedRewardFunction
from hierl.rewards.composite import RewardFunction

__all__ = ["BatchedRewardFunction", "RewardConfigError", "RewardFunction"]
