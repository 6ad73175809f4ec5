"""hierl's commands: every pipeline is a module and a console script, with hierl's own fast --help page and one line
for a group option that does not exist; the experiments/ scripts are thin wrappers over the modules."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from hydra import compose, initialize_config_dir
from runs import run_ok

from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hierl.train import HELP_FILE, check_group_choices, group_options, help_page

# module -> (console script, the experiments/ script that wraps it)
COMMANDS = {
    "hierl.train": ("hierl-train", None),
    "hierl.train_all": ("hierl-train-all", "train_all_agents"),
    "hierl.train_ppo_agents": ("hierl-train-ppo-agents", "train_ppo_agents"),
    "hierl.pretrain_cql": ("hierl-pretrain-cql", "pretrain_cql"),
    "hierl.benchmark": ("hierl-benchmark", "benchmark"),
}
# Libraries `--help` does without (Hydra composing the config is what made it take seconds).
NOT_FOR_HELP = ("hydra", "polars", "torch")


def run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, check=False)


def test_every_command_is_a_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for module, (script, _) in COMMANDS.items():
        assert scripts[script] == f"{module}:main"


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_help_is_hierls_page_printed_without_composing_the_config(module: str) -> None:
    probe = (
        f"import sys\nsys.argv = ['{module}', '--help']\nfrom {module} import main\nmain()\n"
        f"print('LOADED', [m for m in {NOT_FOR_HELP!r} if m in sys.modules])"
    )
    started = time.monotonic()
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr[-2000:]
    page, loaded = result.stdout.rsplit("LOADED", 1)
    assert loaded.strip() == "[]"
    assert page.startswith(f"usage: python -m {module} ") and f"({COMMANDS[module][0]})" in page.splitlines()[0]
    assert "Config groups" in page and "_schema" not in page
    assert time.monotonic() - started < 20  # about 0.1 s on a quiet machine; Hydra's page took 3 s


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_python_dash_m_help_works_for_every_module(module: str) -> None:
    result = run(sys.executable, "-m", module, "--help")
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert result.stdout.startswith(f"usage: python -m {module} ")


@pytest.mark.parametrize(("module", "script"), [(m, s) for m, (_, s) in COMMANDS.items() if s])
def test_the_experiments_scripts_are_the_modules(module: str, script: str) -> None:
    wrapper = REPO / "experiments" / f"{script}.py"
    assert run(sys.executable, str(wrapper), "--help").stdout == run(sys.executable, "-m", module, "--help").stdout
    # A docstring, `from <module> import main`, and `if __name__ == "__main__": main()`: nothing of its own.
    docstring, imported, call = ast.parse(wrapper.read_text()).body
    assert isinstance(docstring, ast.Expr) and isinstance(call, ast.If)
    assert isinstance(imported, ast.ImportFrom) and (imported.module, imported.names[0].name) == (module, "main")


def help_template() -> str:
    template: str = yaml.safe_load((config_dir() / HELP_FILE).read_text())["template"]
    return template


def test_the_help_page_names_every_group_option_and_command() -> None:
    page = help_template()
    # Groups picked by interpolation (`agent_asset: ${agent}_${asset}`) are named, their options are not.
    defaults = yaml.safe_load((config_dir() / "train.yaml").read_text())["defaults"]
    automatic = {
        key.removeprefix("optional ")
        for entry in defaults
        if isinstance(entry, dict)
        for key, value in entry.items()
        if isinstance(value, str) and "${" in value
    }
    groups = group_options()
    assert automatic and automatic < set(groups)
    for group, options in groups.items():
        assert group in page, group
        if group not in automatic:  # `group: a, b, c` then two spaces before the description
            line = next(line for line in page.splitlines() if line.strip().startswith(f"{group}:"))
            listed = line.split(":", 1)[1].strip().split("  ")[0].split(", ")
            assert sorted(listed) == options, line
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for script, target in scripts.items():
        module = target.split(":")[0]
        assert any(line.split()[:2] == [module, script] for line in page.splitlines()), (module, script)
    # Hydra substitutes `$name` and resolves `${...}` in a help template; the page holds neither.
    assert "$" not in page and "_schema" not in page


def test_hydras_own_help_is_hierls_page_too() -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.help.template == help_template()
    assert help_page("x").endswith(help_template())


@pytest.mark.parametrize(
    ("module", "override", "message"),
    [
        ("hierl.train", "agent=ppx", "error: agent=ppx is not an option of agent; choose cql, ppo, sac"),
        ("hierl.train_all", "+asset=comodity", "error: asset=comodity is not an option of asset; choose commodity,"),
        ("hierl.benchmark", "logger=wand", "error: logger=wand is not an option of logger; choose csv, none,"),
    ],
)
def test_a_group_option_that_does_not_exist_is_one_line_naming_the_options(
    module: str, override: str, message: str, tmp_path: Path
) -> None:
    result = run(sys.executable, "-m", module, override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and result.stderr.startswith(message)
    assert "_schema" not in result.stderr and not (tmp_path / "run").exists()


def test_a_sweep_over_group_options_checks_each(tmp_path: Path) -> None:
    result = run(sys.executable, "-m", "hierl.train", "-m", "asset=equity,comodity", cwd=tmp_path)
    assert result.returncode != 0 and result.stderr.startswith("error: asset=comodity is not an option of asset")


def test_only_plain_group_options_are_checked() -> None:
    check_group_choices(["agent=sac", "+experiment=hierarchy", "experiment=null", "asset=equity,index"])
    check_group_choices(["seed=3", "data.path=/x.csv", "agent.net_arch=[64,64]", "~experiment", "-m"])
    check_group_choices(["asset=choice(equity,nope)", "hydra/launcher=joblib"])  # Hydra's to interpret
    check_group_choices(["agent=mine", "hydra.searchpath=[file:///my/conf]"])  # a config folder of the user's
    check_group_choices(["agent=mine", "--config-dir", "/my/conf"])
    with pytest.raises(SystemExit, match="agent=mine is not an option of agent"):
        check_group_choices(["agent=mine"])


@pytest.mark.slow
def test_a_module_runs_the_pipeline_it_names(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "hierl.train_ppo_agents", "debug=smoke", "data=synthetic"]
    run_ok([*command, "multistage.asset_classes=[equity]", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert (run_dir / "signals.parquet").is_file() and (run_dir / "ppo" / "equity" / "metrics.json").is_file()


def test_import_hierl_imports_no_legacy_gym_and_keeps_its_notice_silent() -> None:
    pytest.importorskip("gym_notices")  # installed with d3rlpy's legacy gym
    probe = "import sys, hierl\nassert 'gym' not in sys.modules, 'import hierl imported gym'\nimport gym, d3rlpy\n"
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert "Gym has been unmaintained" in run(sys.executable, "-c", "import gym").stderr  # the notice exists


@pytest.mark.parametrize(
    ("module", "folder"),
    [
        ("hierl.train", "outputs/${asset.name}/${agent.name}/"),
        ("hierl.train_all", "outputs/pipeline/"),
        ("hierl.train_ppo_agents", "outputs/ppo_agents/"),
        ("hierl.walk_forward", "outputs/walk_forward/"),
    ],
)
def test_each_command_files_its_runs_under_a_folder_that_names_what_ran(module: str, folder: str) -> None:
    result = run_ok([sys.executable, "-m", module, "--cfg", "hydra"], timeout=120, cwd=REPO)
    run_dir = yaml.safe_load(result.stdout)["hydra"]["run"]["dir"]
    assert folder in run_dir


def test_a_run_folder_given_on_the_command_line_wins(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "hierl.train_all", "--cfg", "hydra", f"hydra.run.dir={tmp_path}"]
    result = run_ok(command, timeout=120, cwd=REPO)
    assert yaml.safe_load(result.stdout)["hydra"]["run"]["dir"] == str(tmp_path)
