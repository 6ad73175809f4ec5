"""Time the Gold build (and the MarketData load) for the sample data and a large synthetic universe.

PYTHONPATH=. python benchmarks/bench_data.py --assets 500 --days 8000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from hierl.config.data import DataConfig, FeatureConfig, SyntheticConfig
from hierl.data.pipeline import load_market_data

SAMPLE_CLASSES = ("equity", "index", "commodity")
WINDOW = 32


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_load(cfg: DataConfig, asset_class: str, cache_dir: Path) -> tuple[float, float, tuple[int, ...]]:
    """(cold seconds, warm seconds, feature shape): a build into an empty cache, then a cache hit."""
    started = time.perf_counter()
    market = load_market_data(cfg, asset_class, WINDOW, cache_dir)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    load_market_data(cfg, asset_class, WINDOW, cache_dir)
    warm = time.perf_counter() - started
    return cold, warm, market.features.shape


def report(label: str, cold: float, warm: float, shape: tuple[int, ...]) -> None:
    print(
        f"{label:<28} build {cold:7.2f} s   cached {warm:6.2f} s   features {shape}   "
        f"peak RSS {peak_memory_mb():8.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=500, help="synthetic universe size")
    parser.add_argument("--days", type=int, default=8000, help="synthetic history length")
    parser.add_argument("--skip-sample", action="store_true", help="only run the synthetic universe")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        cache_dir = Path(directory)
        if not args.skip_sample:
            sample = DataConfig(start="2000-01-01", end="2018-12-31")
            for asset_class in SAMPLE_CLASSES:
                report(f"sample/{asset_class}", *timed_load(sample, asset_class, cache_dir))
        synthetic = DataConfig(
            source="synthetic",
            synthetic=SyntheticConfig(n_assets=args.assets, n_days=args.days, asset_classes=["equity"]),
            features=FeatureConfig(
                technical=[
                    "ret_1",
                    "ret_5",
                    "ret_21",
                    "vol_21",
                    "vol_63",
                    "mom_63",
                    "mom_252",
                    "rsi_14",
                    "macd",
                    "bollinger_20",
                    "atr_14",
                    "volume_z_21",
                ],
                sentiment=["breadth_21"],
                macro=["cpi_yoy", "credit_spread"],
                regime=["vol_regime", "trend_regime"],
            ),
        )
        report(f"synthetic {args.assets}x{args.days}", *timed_load(synthetic, "equity", cache_dir))


if __name__ == "__main__":
    main()
