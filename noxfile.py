"""Sessions: `nox` runs lint, typecheck and tests (what CI runs); `nox -s train -- <overrides>` runs an experiment.

Every session but lint shares one virtual environment, `.nox/project`, built on first use and rebuilt only when
`pyproject.toml` or the torch pin changes: a second `nox -s train` starts in seconds instead of reinstalling
2.5 GB. A fresh clone (CI) builds it from scratch. `nox -s lint` has its own small one with ruff alone.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
# The CPU build of torch goes in first: left to the resolver, torch is a multi-GB CUDA download.
TORCH_CPU = "torch==2.13.0"
PROJECT_ENV = Path(".nox") / "project"
INSTALL_STAMP = PROJECT_ENV / "hierl-install.sha256"
TEST_ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def install_fingerprint() -> str:
    """What the project environment was built from: the dependencies and the torch pin."""
    return hashlib.sha256(Path("pyproject.toml").read_bytes() + TORCH_CPU.encode()).hexdigest()


def base_interpreter() -> str:
    """A Python 3.11 to build the environment with: the one running nox when it is 3.11, else python3.11."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which(f"python{PYTHON}")
    if found is None:
        raise SystemExit(f"nox needs Python {PYTHON} (python{PYTHON} on the PATH) to build {PROJECT_ENV}")
    return found


def project_python(session: nox.Session) -> str:
    """The shared environment's interpreter, (re)built when missing or stale; the editable install follows edits."""
    python = PROJECT_ENV / "bin" / "python"
    fingerprint = install_fingerprint()
    if python.is_file() and INSTALL_STAMP.is_file() and INSTALL_STAMP.read_text() == fingerprint:
        session.log(f"reusing {PROJECT_ENV} (pyproject.toml unchanged)")
        return str(python)
    session.log(f"building {PROJECT_ENV}: torch (CPU build) first, then hierl[dev]; a few minutes")
    session.run(base_interpreter(), "-m", "venv", "--clear", str(PROJECT_ENV), external=True)
    pip = (str(python), "-m", "pip", "install", "--quiet")
    session.run(*pip, "--upgrade", "pip", external=True)
    session.run(*pip, TORCH_CPU, external=True)
    session.run(*pip, "-e", ".[dev]", external=True)
    INSTALL_STAMP.write_text(fingerprint)
    return str(python)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite, slow tests included, one worker per core (pytest-xdist; a file's tests share one)."""
    python = project_python(session)
    session.run(
        python, "-m", "pytest", "-n", "auto", "--dist", "loadfile", *session.posargs, env=TEST_ENV, external=True
    )


@nox.session(python=PYTHON, reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.run(project_python(session), "-m", "mypy", external=True)


@nox.session(venv_backend="none")
def train(session: nox.Session) -> None:
    """Run `python -m hierl.train` with the given overrides."""
    python = project_python(session)
    session.run(python, "-m", "hierl.train", *session.posargs, env={"WANDB_MODE": "offline"}, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks, each measured against a baseline in the same run; `nox -s bench -- --quick` for a smoke run.

    Results go to benchmarks/results/ (JSON, Markdown, and README_section.md merged by report.py). The public
    envs compared against are installed here only, never as project dependencies, and with --no-deps: their
    pins (old flask, ccxt for a downloader the benchmark does not use) must not move the project's numpy,
    pandas or gymnasium. One that fails to install is skipped by bench_envs.py with a printed note.
    """
    python = project_python(session)
    for package in ("gym-anytrading", "gym-trading-env"):
        install = (python, "-m", "pip", "install", "--quiet", "--no-deps", package)
        session.run(*install, external=True, success_codes=[0, 1])
    scripts = ("bench_end_to_end.py", "bench_threads.py", "bench_data.py", "bench_envs.py", "bench_training.py")
    for script in scripts:
        session.run(python, f"benchmarks/{script}", *session.posargs, external=True)
    session.run(python, "benchmarks/report.py", external=True)


@nox.session(venv_backend="none")
def learn(session: nox.Session) -> None:
    """Does default PPO learn? A planted signal against oracles, and the sample data against naive baselines.

    Tens of minutes on two cores (27 runs, one per worker process); `nox -s learn -- --quick --out <dir>` for a
    smoke run that leaves README.md and docs/ alone. Results go to benchmarks/results/learning.{json,md}; see
    benchmarks/learn.py and docs/learning.md.
    """
    python = project_python(session)
    session.run(python, "benchmarks/learn.py", *session.posargs, env={"WANDB_MODE": "offline"}, external=True)
