"""A toy Hydra app for the sweeper tests: a quadratic bowl that reports its value as it "trains"."""
