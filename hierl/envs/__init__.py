"""Environments: the numpy market core, the single-asset TradingEnv and its vectorised form."""
