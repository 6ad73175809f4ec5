"""`python experiments/benchmark.py [overrides]`: the same as `python -m hierl.benchmark` (`hierl-benchmark`).

The headline results, regenerated from scratch: the whole pipeline over 5 seeds (`experiment=benchmark`), then
`headline.md`, `.json` and `.png` in `paths.results_dir`; see `hierl/benchmark.py` and docs/results.md.

    python experiments/benchmark.py                          # the full benchmark, under an hour on 2 cores
    python experiments/benchmark.py debug=smoke multistage.seeds=[0,1]  # every stage at smoke budgets
"""

from hierl.benchmark import main

if __name__ == "__main__":
    main()
