"""Merge the results of the three benchmarks into one Markdown section for the README.

    PYTHONPATH=. python benchmarks/report.py      # after bench_envs.py, bench_training.py and bench_data.py

Reads `benchmarks/results/{envs,training,data}.json` and writes `benchmarks/results/README_section.md`. Ratios
come first because they carry over between machines (both sides of a ratio ran in the same process minutes
apart); absolute rates follow with the machine they were measured on, since they do not. A missing results file
is named in the section rather than failing, so a partial run still gives a partial section.
"""

from __future__ import annotations

import json
from typing import Any

from bench_common import RESULTS_DIR, markdown_table, verdict

SECTION_PATH = RESULTS_DIR / "README_section.md"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def describe_machine(machine: dict[str, Any]) -> str:
    """The machine without the time of measurement, so that results files of one machine describe it once."""
    return f"{machine['processor']}, {machine['cpu_count']} cores, {machine['system']}, Python {machine['python']}"


def target_rows(envs: dict[str, Any] | None, training: dict[str, Any] | None) -> list[list[str]]:
    """Every ratio that has a target, from both benchmarks, as table rows."""
    rows = []
    for ratio in (envs or {}).get("ratios", []):
        if ratio["target"]:
            value = "-" if ratio["value"] is None else f"{ratio['value']:.2f}"
            rows.append([ratio["name"], value, ratio["target"], verdict(ratio["holds"])])
    for row in (training or {}).get("rows", []):
        if row["target"]:
            name = f"PPO on {row['name']} ({row['n_envs']} envs) / PPO on a no-op env"
            rows.append([name, f"{row['ratio_to_baseline']:.2f}", row["target"], verdict(row["holds"])])
    return rows


def env_rate_rows(envs: dict[str, Any]) -> list[list[str]]:
    return [
        [rate["name"], rate["observation"], f"{rate['rate']:,.0f} {rate['unit']}"]
        for rate in sorted(envs["rates"], key=lambda rate: -rate["rate"])
    ]


def training_rows(training: dict[str, Any]) -> list[list[str]]:
    return [[row["name"], str(row["n_envs"]), f"{row['steps_per_s']:,.0f}"] for row in training["rows"]]


def data_rows(data: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row["stage"],
            " x ".join(str(n) for n in row["features_shape"]),
            f"{row['build_s']:.2f}",
            f"{row['cached_s']:.2f}",
            f"{row['peak_rss_mb']:,.0f}",
        ]
        for row in data["rows"]
    ]


def table_section(caption: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of one results table: its caption, then the table, each followed by a blank line."""
    return [caption, "", markdown_table(header, rows), ""]


def render(envs: dict[str, Any] | None, training: dict[str, Any] | None, data: dict[str, Any] | None) -> str:
    lines = ["## Performance", "", "Targets, as ratios measured in one run (both sides on the same machine):", ""]
    lines += [markdown_table(["ratio", "value", "target", "verdict"], target_rows(envs, training)), ""]
    missing = [name for name, result in (("envs", envs), ("training", training), ("data", data)) if result is None]
    if missing:
        lines += [f"Not run: {', '.join(missing)} (no results file).", ""]
    for skipped in (envs or {}).get("skipped", []):
        lines += [f"Not measured: {skipped['name']} ({skipped['reason']}).", ""]
    results = [result for result in (envs, training, data) if result is not None]
    machines = sorted({describe_machine(result["machine"]) for result in results})
    dates = sorted(result["machine"]["measured_at"][:10] for result in results)
    when = (
        f" on {dates[0]}" if dates and dates[0] == dates[-1] else (f" from {dates[0]} to {dates[-1]}" if dates else "")
    )
    lines += [f"Absolute numbers, measured{when} on: " + "; ".join(machines) + ".", ""]
    if envs is not None:
        cfg = envs["config"]
        caption = (
            f"Env steps per second ({cfg['days']:,} synthetic days, {cfg['features']} features, window "
            f"{cfg['window']}, random actions, median of {cfg['repeats']} runs):"
        )
        lines += table_section(caption, ["env", "observation", "rate"], env_rate_rows(envs))
    if training is not None:
        cfg = training["config"]
        caption = (
            f"SB3 PPO env steps per second ([64, 64] MLP, rollout {cfg['rollout_steps']:,}, {cfg['budget']:,} steps "
            f"per run, median of {cfg['repeats']}, torch threads {cfg['torch_threads']}):"
        )
        lines += table_section(caption, ["env", "n_envs", "env steps/s"], training_rows(training))
    if data is not None:
        caption = "Data build (Gold features into an empty cache, then a cached load):"
        header = ["stage", "features (T x N x F)", "build s", "cached s", "peak RSS MB"]
        lines += table_section(caption, header, data_rows(data))
    lines += ["Reproduce with `nox -s bench` (or `-- --quick` for a smoke run); scripts are in `benchmarks/`."]
    return "\n".join(lines)


def main() -> None:
    markdown = render(load("envs"), load("training"), load("data"))
    SECTION_PATH.write_text(markdown + "\n")
    print(markdown)
    print(f"wrote {SECTION_PATH}")


if __name__ == "__main__":
    main()
