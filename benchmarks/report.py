"""Merge the results of the benchmarks into one Markdown section for the README.

    PYTHONPATH=. python benchmarks/report.py      # after the bench_*.py scripts

Reads `benchmarks/results/{end_to_end,threads,envs,training,data}.json`, writes
`benchmarks/results/README_section.md`, then fills the generated blocks of `docs/performance.md` (everything) and
`README.md` (the end-to-end and env-only ratios). Ratios come first because they carry over between machines
(both sides of a ratio ran in the same process minutes apart); absolute rates follow with the machine they were
measured on, since they do not. A missing results file is named in the section rather than failing, so a partial
run still gives a partial section.
"""

from __future__ import annotations

import json
from pathlib import Path
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


def end_to_end_rows(end_to_end: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row["scenario"],
            row["condition"],
            f"{row['wall_s']:.1f}",
            f"{row['steps_per_s']:,.0f}",
            f"{row['floor_steps_per_s']:,.0f}",
            f"{row['end_to_end_ratio']:.2f}",
            f"{row['training_ratio']:.2f}",
            f">= {row['target']:.1f}",
            verdict(row["holds"]),
        ]
        for row in end_to_end["rows"]
    ]


def thread_rows(threads: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row["condition"],
            f"{row['parameters']:,}",
            f"{row['one_thread_ms']:.2f}",
            f"{row['two_threads_ms']:.2f}",
            f"{row['ratio']:.2f}",
        ]
        for row in threads["rows"]
    ]


def render(
    envs: dict[str, Any] | None,
    training: dict[str, Any] | None,
    data: dict[str, Any] | None,
    end_to_end: dict[str, Any] | None = None,
    threads: dict[str, Any] | None = None,
) -> str:
    lines = ["## Performance", ""]
    if end_to_end is not None:
        lines += [
            "Whole commands against their floor, SB3 with the same hyperparameters and steps on a no-op env with the "
            "same spaces at its best thread count (`benchmarks/bench_end_to_end.py`; busy: another process spins on "
            "one core; end-to-end = floor wall / run wall, training = the training phases alone):",
            "",
        ]
        header = ["command", "machine", "wall s", "steps/s", "floor steps/s", "end-to-end", "training", "target"]
        lines += [markdown_table([*header, "verdict"], end_to_end_rows(end_to_end)), ""]
    lines += ["Env and PPO-throughput targets, as ratios measured in one run (both sides on the same machine):", ""]
    lines += [markdown_table(["ratio", "value", "target", "verdict"], target_rows(envs, training)), ""]
    named = (("end_to_end", end_to_end), ("threads", threads), ("envs", envs), ("training", training), ("data", data))
    missing = [name for name, result in named if result is None]
    if missing:
        lines += [f"Not run: {', '.join(missing)} (no results file).", ""]
    for skipped in (envs or {}).get("skipped", []):
        lines += [f"Not measured: {skipped['name']} ({skipped['reason']}).", ""]
    results = [result for _, result in named if result is not None]
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
    if threads is not None:
        caption = "One Adam update, batch 256, 612 inputs -> [w, w] -> 1 (`benchmarks/bench_threads.py`):"
        header = ["machine", "parameters", "1 thread ms", "2 threads ms", "2 / 1"]
        lines += table_section(caption, header, thread_rows(threads))
    if data is not None:
        caption = "Data build (Gold features into an empty cache, then a cached load):"
        header = ["stage", "features (T x N x F)", "build s", "cached s", "peak RSS MB"]
        lines += table_section(caption, header, data_rows(data))
    lines += ["Reproduce with `nox -s bench` (or `-- --quick` for a smoke run); scripts are in `benchmarks/`."]
    return "\n".join(lines)


REPO = RESULTS_DIR.parent.parent


def markers(block: str) -> tuple[str, str]:
    """The HTML comments that fence a generated block, e.g. `<!-- performance:begin -->`; invisible on GitHub."""
    return f"<!-- {block}:begin -->", f"<!-- {block}:end -->"


def check_generated(path: Path, block: str = "performance") -> str:
    """The text of `path`, refused unless it holds exactly one `block` begin marker followed by one end marker.

    Benchmarks call this before they start (a long run must not fail at its last step) and again when they fill
    the block; a missing, repeated or reversed marker would otherwise overwrite hand-written text or append a
    second copy of the block.
    """
    begin, end = markers(block)
    text = path.read_text()
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(
            f"{path} has no {begin} ... {end} block to fill (each marker exactly once, begin first); add the two "
            "lines where the generated results belong"
        )
    return text


def replace_generated(path: Path, content: str, block: str = "performance") -> None:
    """Put `content` between the `block` markers of `path`; the text around them is left as it is."""
    begin, end = markers(block)
    head, rest = check_generated(path, block).split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{content.strip()}\n{end}{tail}")


def readme_summary(end_to_end: dict[str, Any] | None) -> str:
    """The README's part: the end-to-end ratios, then where the rest is (the env-only targets and the absolute rates
    live in docs/performance.md, so the README stays under 16 KB)."""
    lines = []
    if end_to_end is not None:
        machine = end_to_end["machine"]
        lines += [
            f"Measured by `nox -s bench` on {machine['measured_at'][:10]} ({describe_machine(machine)}; busy: another "
            "process keeps one core at 100%). Whole commands against SB3 on a no-op env with the same "
            "hyperparameters, steps and spaces at its best thread count (floor wall / run wall):",
            "",
        ]
        header = ["command", "machine", "wall s", "steps/s", "floor steps/s", "end-to-end", "training", "target"]
        lines += [markdown_table([*header, "verdict"], end_to_end_rows(end_to_end)), ""]
    where = "[docs/performance.md](docs/performance.md)"
    lines.append(f"The env-only targets, how each is measured, and the absolute rates: {where}.")
    return "\n".join(lines)


def main() -> None:
    envs, training, data, end_to_end, threads = (
        load(name) for name in ("envs", "training", "data", "end_to_end", "threads")
    )
    markdown = render(envs, training, data, end_to_end, threads)
    SECTION_PATH.write_text(markdown + "\n")
    print(markdown)
    print(f"wrote {SECTION_PATH}")
    body = markdown.split("\n", 1)[1]  # without the "## Performance" heading: the page has its own
    replace_generated(REPO / "docs" / "performance.md", body)
    replace_generated(REPO / "README.md", readme_summary(end_to_end))
    print("wrote docs/performance.md and the README's Performance section")


if __name__ == "__main__":
    main()
