"""The bad-input matrix: each user mistake gives one clear error and a non-zero exit, with no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from runs import hierl_train


def train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hierl_train("debug=smoke", f"hydra.run.dir={tmp_path / 'run'}", *overrides),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def write_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


GARBLED_CSV = "date;symbol\n\x00\x01,,,\n"
NEGATIVE_PRICE_CSV = "date,symbol,close\n2020-01-01,A,1\n2020-01-02,A,-1\n"

CASES = {
    "missing data file": (lambda t: ["data=csv", f"data.path={t / 'nope.csv'}"], "matches no file"),
    "corrupt parquet": (
        lambda t: ["data=csv", f"data.path={write_file(t, 'prices.parquet', 'not parquet at all')}"],
        "cannot be read as parquet",
    ),
    "corrupt csv": (
        lambda t: ["data=csv", f"data.path={write_file(t, 'prices.csv', GARBLED_CSV)}"],
        "prices.csv",
    ),
    "data failing validation": (
        lambda t: ["data=csv", f"data.path={write_file(t, 'neg.csv', NEGATIVE_PRICE_CSV)}"],
        "non-positive",
    ),
    "output folder inside a file": (
        lambda t: [f"hydra.run.dir={write_file(t, 'a_file', '')}/run"],
        "cannot write run outputs",
    ),
    "batch larger than a rollout": (lambda t: ["agent.batch_size=100000"], "agent.batch_size"),
    "init_from a folder that is not a CQL run": (lambda t: [f"agent.init_from={t}"], "agent.init_from"),
    "resume without a checkpoint": (lambda t: ["resume=true"], "no complete checkpoint"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_user_mistake_is_one_clear_error(case: str, tmp_path: Path) -> None:
    overrides, message = CASES[case]
    result = train(tmp_path, *overrides(tmp_path))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
