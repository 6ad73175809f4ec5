"""Reward terms and their weighted composition, configured by `RewardConfig`."""

from hierl.rewards.batched import BatchedRewardFunction
from hierl.rewards.composite import RewardConfigError, RewardFunction, validate_reward_config

__all__ = ["BatchedRewardFunction", "RewardConfigError", "RewardFunction", "validate_reward_config"]
