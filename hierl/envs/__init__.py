"""Environments: the numpy market core (one accounting kernel), the single-asset TradingEnv and its vectorised
form TradingVecEnv, and the meta-controller's PortfolioEnv over asset-class sleeves. Every env saves and
restores its running state as plain data (`get_state` / `set_state`)."""
