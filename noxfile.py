"""Sessions: `nox` runs lint, typecheck and tests (what CI runs); `nox -s train -- <overrides>` runs an experiment."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
# The CPU build of torch goes in first: left to the resolver, torch is a multi-GB CUDA download.
TORCH_CPU = "torch==2.13.0"


def install_project(session: nox.Session, extras: str = "dev") -> None:
    session.install(TORCH_CPU)
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite, slow tests included."""
    install_project(session)
    session.run("pytest", *session.posargs, env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    install_project(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def train(session: nox.Session) -> None:
    """Set up and run `python -m hierl.train` with the given overrides."""
    install_project(session, extras="dev")
    session.run("python", "-m", "hierl.train", *session.posargs, env={"WANDB_MODE": "offline"})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks, each measured against a baseline in the same run; `nox -s bench -- --quick` for a smoke run.

    Results go to benchmarks/results/ (JSON, Markdown, and README_section.md merged by report.py). The public
    envs compared against are installed here only, never as project dependencies, and with --no-deps: their
    pins (old flask, ccxt for a downloader the benchmark does not use) must not move the project's numpy,
    pandas or gymnasium. One that fails to install is skipped by bench_envs.py with a printed note.
    """
    install_project(session)
    for package in ("gym-anytrading", "gym-trading-env"):
        session.install("--no-deps", package, success_codes=[0, 1])
    for script in ("benchmarks/bench_data.py", "benchmarks/bench_envs.py", "benchmarks/bench_training.py"):
        session.run("python", script, *session.posargs)
    session.run("python", "benchmarks/report.py")
