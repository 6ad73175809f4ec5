"""`python experiments/benchmark.py [overrides]`: the same as `python -m hierl.benchmark` (`hierl-benchmark`).

The headline results, regenerated from scratch: a walk-forward of the whole hierarchy on the sample data
(`experiment=benchmark`), then `headline.md`, `.json` and `.png` from its out-of-sample record in
`paths.results_dir`; see `hierl/benchmark.py` and docs/results.md.

    python experiments/benchmark.py                                  # the full benchmark
    python experiments/benchmark.py debug=smoke walk_forward.seeds=[0]   # every stage at smoke budgets
"""

from hierl.benchmark import main

if __name__ == "__main__":
    main()
