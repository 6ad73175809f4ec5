"""Time the Gold build (and the MarketData load) for the sample data and a large synthetic universe.

    PYTHONPATH=. python benchmarks/bench_data.py                  # 500 assets x 8,000 days, about a minute, ~3 GB
    PYTHONPATH=. python benchmarks/bench_data.py --quick          # 50 assets x 2,000 days

Each stage builds into an empty cache (`build`), then loads the same arrays again (`cached`, a cache hit), so the
two times separate feature engineering from reading Parquet. The sample classes share the cached layers below
Gold, so the first class's build also pays for theirs. Peak memory is the process's peak resident set
(ru_maxrss) after the stage: it only grows, and the sample classes are small, so the synthetic row is the
synthetic build's peak; `after imports` is the floor every row includes.
Writes `benchmarks/results/data.json` and `data.md`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import markdown_table, write_results

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


def report(label: str, cold: float, warm: float, shape: tuple[int, ...]) -> dict[str, Any]:
    """Print one stage as it finishes (a large build takes a while) and return it as a results row."""
    peak = peak_memory_mb()
    print(
        f"{label:<28} build {cold:7.2f} s   cached {warm:6.2f} s   features {shape}   peak RSS {peak:8.0f} MB",
        flush=True,
    )
    return {"stage": label, "build_s": cold, "cached_s": warm, "features_shape": list(shape), "peak_rss_mb": peak}


def render(rows: list[dict[str, Any]], imports_mb: float) -> str:
    table = [
        [
            r["stage"],
            f"{r['build_s']:.2f}",
            f"{r['cached_s']:.2f}",
            f"{r['build_s'] / r['cached_s']:.0f}x",
            " x ".join(str(n) for n in r["features_shape"]),
            f"{r['peak_rss_mb']:,.0f}",
        ]
        for r in rows
    ]
    header = ["stage", "build s", "cached s", "build / cached", "features (T x N x F)", "peak RSS MB"]
    return "\n".join(
        [
            "### Data build",
            "",
            f"Gold build into an empty cache, then a cached load. Peak RSS after imports: {imports_mb:,.0f} MB.",
            "",
            markdown_table(header, table),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=500, help="synthetic universe size")
    parser.add_argument("--days", type=int, default=8000, help="synthetic history length")
    parser.add_argument("--skip-sample", action="store_true", help="only run the synthetic universe")
    parser.add_argument("--quick", action="store_true", help="a 50 x 2,000 synthetic universe instead")
    args = parser.parse_args()
    if args.quick:
        args.assets, args.days = 50, 2000
    imports_mb = peak_memory_mb()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        cache_dir = Path(directory)
        if not args.skip_sample:
            sample = DataConfig(start="2000-01-01", end="2018-12-31")
            for asset_class in SAMPLE_CLASSES:
                rows.append(report(f"sample/{asset_class}", *timed_load(sample, asset_class, cache_dir)))
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
        rows.append(report(f"synthetic {args.assets}x{args.days}", *timed_load(synthetic, "equity", cache_dir)))
    config = {"assets": args.assets, "days": args.days, "window": WINDOW, "sample": not args.skip_sample}
    payload = {"benchmark": "data", "config": config, "peak_rss_after_imports_mb": imports_mb, "rows": rows}
    for path in write_results("data", payload, render(rows, imports_mb)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
