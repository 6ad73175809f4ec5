"""Units across the machines of a Ray cluster: where they run, how their run folders reach the driver, retries.

A two-node Ray cluster (one CPU each) is started here with `ray.cluster_utils.Cluster`; the units are the small
folder writers of `tests/ray_units.py`, shipped to the nodes with `multistage.ray.runtime_env` (`working_dir`).
Both nodes run on this machine, so "node-local" here means each unit's own scratch folder: a unit that wrote into
the driver's run folder, or whose scratch folder stayed behind, fails the checks below.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import ray_units
from conftest import REPO
from ray.cluster_utils import Cluster
from ray_units import PARTIAL_FILE, RESULT_FILE, STATE_BYTES, STATE_FILE, FolderWriter, fail_after_writing, write_folder
from runs import run_ok

from hierl.config.loading import load_config
from hierl.config.stages import cql_run, ppo_run, sac_run
from hierl.errors import ConfigError, UserError
from hierl.orchestration.execution import ExecutionConfig, Node, Unit, UnitOutcome, run_units
from hierl.orchestration.pipeline import CQLJob, SACJob
from hierl.orchestration.ppo_stage import PPOJob, unit_identity
from hierl.orchestration.unit_folders import DRIVER, folder_manifest, receive, run_node_local, send
from hierl.tracking.run_state import read_state

# One cluster per pytest process: with `--dist loadgroup` (or nox's `--dist loadfile`) every test of this file runs in
# one worker, so a parallel run starts one cluster; with `--dist load` each worker that gets a test starts its own.
pytestmark = pytest.mark.xdist_group("ray_cluster")


# --- How folders travel, in this process (no Ray): the driver's and the node's halves of `unit_folders`. ---


def driver_run(tmp_path: Path) -> tuple[Path, Path]:
    """A driver's run folder holding an input file (as a pipeline holds the signals a SAC unit reads)."""
    run = tmp_path / "run"
    source = run / "signals.txt"
    source.parent.mkdir(parents=True)
    source.write_text("from the driver")
    return run, source


@pytest.fixture
def scratch_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's temp folder for the test, where `run_node_local` makes its scratch folders."""
    folder = tmp_path / "node_tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def travel(job: FolderWriter, storage: str) -> dict[str, Any]:
    """`job` sent, run by `write_folder` in a scratch folder and received, as a Ray task would be."""
    parcel = send(job, storage)
    result, returned = run_node_local(parcel, job, write_folder)
    if returned is not None:
        receive(job, parcel, returned)
    return result


@pytest.mark.parametrize("mode", ["driver", "storage"])
def test_a_unit_runs_in_a_scratch_folder_and_its_folder_comes_back(
    tmp_path: Path, scratch_here: Path, mode: str
) -> None:
    run, source = driver_run(tmp_path)
    storage = DRIVER if mode == "driver" else (tmp_path / "storage").as_uri()
    job = FolderWriter("unit", run / "ppo" / "equity", source=source, hold_seconds=0)
    result = travel(job, storage)
    written_in = Path(result["written_in"])
    assert written_in.is_relative_to(scratch_here) and not written_in.exists()  # node-local, deleted afterwards
    assert result["copied"] == "from the driver"  # the input travelled with the unit
    assert (job.run_dir / STATE_FILE).read_bytes() == STATE_BYTES
    assert json.loads((job.run_dir / RESULT_FILE).read_text())["written_in"] == str(written_in)
    # A rerun ships the finished folder to the unit, which reuses it: nothing comes back, nothing is rewritten.
    before = folder_manifest(job.run_dir)
    assert travel(job, storage)["reused"] is True
    assert folder_manifest(job.run_dir) == before


def test_a_folder_that_comes_back_replaces_the_driver_copy_whole(tmp_path: Path, scratch_here: Path) -> None:
    run, _ = driver_run(tmp_path)
    job = FolderWriter("unit", run / "unit", hold_seconds=0)
    (job.run_dir / "stale.txt").parent.mkdir(parents=True)
    (job.run_dir / "stale.txt").write_text("deleted by the unit")
    parcel = send(job, DRIVER)

    def rewrite(local: FolderWriter) -> None:
        (local.run_dir / "stale.txt").unlink()
        (local.run_dir / "new.txt").write_text("new")

    _, returned = run_node_local(parcel, job, rewrite)
    assert returned is not None
    receive(job, parcel, returned)
    assert sorted(p.name for p in job.run_dir.iterdir()) == ["new.txt"]
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []  # no half-swapped folder left


def test_each_stage_job_moves_its_folder_and_inputs_and_keeps_its_identity(tmp_path: Path) -> None:
    """A relocated job writes and reads node-local copies, but reuse compares the config the driver planned."""
    run, node = Path("/driver/run"), tmp_path / "node"
    cql = run / "cql" / "equity"
    ppo = PPOJob("equity", 0, ppo_run(load_config(["agent=ppo", f"agent.init_from={cql}"])), run / "ppo" / "equity")
    behaviour = CQLJob("cql/equity", cql_run(load_config(["agent=cql", f"agent.behaviour_ppo_run={run}/x"])), cql)
    signals = run / "ppo" / "signals_seed_0.parquet"
    sac_cfg = sac_run(load_config(["experiment=hierarchy", f"agent.signals_path={signals}"]))
    sac = SACJob("sac/seed_0", sac_cfg, run / "sac" / "seed_0", {})
    for job in (ppo, behaviour, sac):
        (wanted,) = job.inputs()
        moved = job.relocated(node / "run", {wanted: node / "input"})
        assert moved.run_dir == node / "run" and moved.cfg.paths.output_dir == str(node / "run")
        assert str(node / "input") in json.dumps(unit_identity(moved.cfg))  # it reads the node-local copy
        assert unit_identity(moved.identity) == unit_identity(job.cfg)  # unit_config.json as on the driver
        assert moved.relocated(node / "again", {}).identity == job.cfg  # a second move keeps the first plan
    # A meta-controller warm-started from CQL reads two paths outside its folder; both move.
    warm = sac_run(load_config(["experiment=hierarchy", f"agent.signals_path={signals}", f"agent.init_from={cql}"]))
    both = SACJob("sac/seed_0", warm, run / "sac" / "seed_0", {})
    assert both.inputs() == (signals, cql)
    moved_sac = both.relocated(node / "run", {signals: node / "signals", cql: node / "cql"})
    assert (moved_sac.cfg.agent.signals_path, moved_sac.cfg.agent.init_from) == (
        str(node / "signals"),
        str(node / "cql"),
    )


# --- Bad values: one line naming the key, before any unit starts. ---


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("multistage.ray.storage=nfs", r"multistage\.ray\.storage='nfs' is not a storage mode.*shared.*driver"),
        ("multistage.ray.storage=outputs/shared", r"multistage\.ray\.storage='outputs/shared'"),
        ("multistage.ray.max_retries=-1", r"multistage\.ray\.max_retries=-1 must be >= 0"),
    ],
)
def test_a_bad_ray_value_is_one_line_naming_its_key(override: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_config([override])
    assert "\n" not in str(caught.value)


def test_the_storage_forms_that_are_accepted() -> None:
    for storage in ("shared", "driver", "/mnt/nfs/hierl", "file:///mnt/nfs/hierl", "s3://bucket/prefix"):
        assert load_config([f"multistage.ray.storage={storage}"]).multistage.ray.storage == storage


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"storage": "foo://bucket/x"}, r"multistage\.ray\.storage='foo://bucket/x' cannot be written"),
        ({"runtime_env": {"workdir": "."}}, r"multistage\.ray\.runtime_env has no key 'workdir'; did you mean"),
        ({"runtime_env": {"working_dir": "/no/such/folder"}}, r"runtime_env names '/no/such/folder', which does"),
        ({"runtime_env": {"env_vars": {"A": 1}}}, r"multistage\.ray\.runtime_env=.* is not a Ray runtime_env"),
    ],
)
def test_a_storage_or_runtime_env_ray_cannot_use_stops_before_any_unit(
    tmp_path: Path, change: dict[str, Any], pattern: str
) -> None:
    ran = tmp_path / "ran"
    job = FolderWriter("unit", ran, hold_seconds=0)
    config = ExecutionConfig(distributed=True, num_workers=1, **change)
    with pytest.raises(UserError, match=pattern) as caught:
        run_units([Unit("unit", write_folder, job=job)], config)
    assert "\n" not in str(caught.value) and not ran.exists()


def test_a_unit_run_in_process_records_this_host() -> None:
    (outcome,) = run_units([Unit("unit", len, ("abc",))], ExecutionConfig())
    assert outcome.value == 3 and outcome.node is not None
    assert outcome.node.to_dict() == {"hostname": socket.gethostname()}


# --- On a two-node cluster. ---


def _ray_address_file() -> Path:
    """Where `ray start` (and `Cluster`) records the latest cluster, which a bare `ray.init()` on this machine joins."""
    try:
        from ray._common.utils import get_ray_address_file

        return Path(get_ray_address_file(None))
    except ImportError:  # another Ray release: its default temp folder
        return Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"


def _restore(path: Path, text: str | None, unless: str | None = None) -> None:
    """Put back the record `text` (None: no record), unless another process wrote one since (it holds `unless`)."""
    now = path.read_text().strip() if path.is_file() else None
    if now != unless:
        return
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(text)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a worker node of one CPU each; shut down, with the driver's connection, after the module.

    `Cluster` records its address as this machine's latest cluster; the record is put back at once, so that no
    other process on a shared machine joins this cluster with a bare `ray.init()` while the tests run.
    """
    record = _ray_address_file()
    before = record.read_text() if record.is_file() else None
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    _restore(record, before, unless=started.address)
    try:
        started.add_node(num_cpus=1)
        yield started
    finally:
        ray.shutdown()
        started.shutdown()  # deletes the record, whoever wrote it
        _restore(record, before)


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `working_dir` shipped to the nodes: a folder holding only the units' module."""
    folder = tmp_path_factory.mktemp("code")
    shutil.copy(ray_units.__file__, folder)
    return folder


@pytest.fixture(scope="module")
def node_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The nodes' temp folder (`TMPDIR`), so the scratch folder of an attempt killed on purpose stays in pytest's."""
    return tmp_path_factory.mktemp("node_tmp")


@pytest.fixture
def on_cluster(cluster: Cluster, code_dir: Path, node_tmp: Path) -> Callable[..., ExecutionConfig]:
    """The execution config of a unit batch on the cluster; the runtime_env is the job's, set when Ray connects."""

    def config(**settings: Any) -> ExecutionConfig:
        runtime_env = {"working_dir": str(code_dir), "env_vars": {"TMPDIR": str(node_tmp)}}
        return ExecutionConfig(
            distributed=True, num_workers=2, address=cluster.address, runtime_env=runtime_env, **settings
        )

    return config


def node_ids(cluster: Cluster) -> set[str]:
    return {node.node_id for node in [cluster.head_node, *cluster.worker_nodes]}


def writers(run: Path, source: Path | None = None, count: int = 2, **settings: Any) -> list[Unit[dict[str, Any]]]:
    jobs = [FolderWriter(f"unit_{i}", run / "units" / f"unit_{i}", source=source, **settings) for i in range(count)]
    return [Unit(job.name, write_folder, job=job) for job in jobs]


def values(outcomes: list[UnitOutcome[dict[str, Any]]]) -> list[dict[str, Any]]:
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return [o.value for o in outcomes if o.value is not None]


@pytest.mark.slow
def test_shared_storage_units_run_on_both_nodes_and_write_the_driver_folder(
    cluster: Cluster, on_cluster: Callable[..., ExecutionConfig], tmp_path: Path
) -> None:
    run, source = driver_run(tmp_path)
    units = writers(run, source)
    outcomes = run_units(units, on_cluster())
    assert {o.node.ray_node_id for o in outcomes if o.node} == node_ids(cluster)
    assert all(o.node is not None and o.node.hostname == socket.gethostname() for o in outcomes)
    for unit, value in zip(units, values(outcomes), strict=True):
        assert unit.job is not None and value["written_in"] == str(unit.job.run_dir)  # straight into it
        assert value["node"] == next(o.node.ray_node_id for o in outcomes if o.name == unit.name and o.node)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["driver", "storage"])
def test_node_local_folders_come_back_and_a_rerun_redoes_nothing(
    cluster: Cluster, on_cluster: Callable[..., ExecutionConfig], node_tmp: Path, tmp_path: Path, mode: str
) -> None:
    run, source = driver_run(tmp_path)
    storage_dir = tmp_path / "storage"
    storage = DRIVER if mode == "driver" else storage_dir.as_uri()
    config = on_cluster(storage=storage)
    broken = FolderWriter("broken", run / "units" / "broken")
    units = writers(run, source)
    outcomes = run_units([*units, Unit("broken", fail_after_writing, job=broken)], config)
    assert {o.node.ray_node_id for o in outcomes if o.node} == node_ids(cluster)
    for unit, value in zip(units, values(outcomes[:2]), strict=True):
        assert unit.job is not None
        written_in = Path(value["written_in"])
        assert written_in.is_relative_to(node_tmp) and not written_in.exists()  # node-local, deleted afterwards
        assert value["copied"] == "from the driver"
        assert (unit.job.run_dir / STATE_FILE).read_bytes() == STATE_BYTES
        assert json.loads((unit.job.run_dir / RESULT_FILE).read_text())["node"] == value["node"]
    # A unit's own error is reported, not retried, and what it wrote still reaches the driver.
    assert outcomes[2].error == "RuntimeError: the unit's own error"
    assert (broken.run_dir / PARTIAL_FILE).is_file()
    if mode == "storage":
        assert list(storage_dir.iterdir()) == []  # each unit's archives are deleted once the driver has them
    # The same command again: each finished folder is reused where its copy is, on the driver; nothing travels.
    before = {unit.name: folder_manifest(unit.job.run_dir) for unit in units if unit.job}
    again = run_units(units, config)
    assert [value["reused"] for value in values(again)] == [True, True]
    assert all(outcome.node == Node(socket.gethostname()) for outcome in again)  # no Ray task ran them
    assert {unit.name: folder_manifest(unit.job.run_dir) for unit in units if unit.job} == before
    if mode == "storage":
        assert list(storage_dir.iterdir()) == []


@pytest.mark.slow
def test_a_unit_whose_worker_died_is_rerun_only_as_often_as_max_retries(
    cluster: Cluster, on_cluster: Callable[..., ExecutionConfig], tmp_path: Path
) -> None:
    run, _ = driver_run(tmp_path)
    results = {}
    for retries in (0, 1):
        attempts = tmp_path / f"attempts_{retries}"
        attempts.mkdir()
        (unit,) = writers(run / f"retries_{retries}", count=1, attempts=attempts, crash_first=True, hold_seconds=0)
        config = on_cluster(storage=DRIVER, max_retries=retries)
        (results[retries],) = run_units([unit], config)
        assert len(list(attempts.iterdir())) == 1 + retries
    assert not results[0].ok and "died" in (results[0].error or "").lower()
    assert results[1].ok and (run / "retries_1" / "units" / "unit_0" / STATE_FILE).read_bytes() == STATE_BYTES


@pytest.mark.slow
def test_a_pipeline_on_two_nodes_brings_every_unit_folder_back(cluster: Cluster, tmp_path: Path) -> None:
    """`hierl.train_all` (PPO stage, smoke budgets) joins the cluster as a user would, with storage=driver."""
    run, node_tmp = tmp_path / "run", tmp_path / "node_tmp"
    node_tmp.mkdir()  # Python's tempfile passes over a TMPDIR that does not exist
    command = [
        sys.executable,
        "-m",
        "hierl.train_all",
        "multistage.stages=[ppo]",
        "debug=smoke",
        "data=synthetic",
        "multistage.seeds=[0]",
        "multistage.distributed=true",
        f"multistage.ray.address={cluster.address}",
        "multistage.ray.storage=driver",
        f"+multistage.ray.runtime_env.env_vars.TMPDIR={node_tmp}",
        f"hydra.run.dir={run}",
    ]
    run_ok(command, cwd=REPO)
    assert (node_tmp / "hierl-units").is_dir()  # the runtime_env of the command line reached the nodes
    summary = json.loads((run / "pipeline_summary.json").read_text())
    assert summary["failed"] == [] and set(summary["units"]) == {"ppo/commodity/seed_0", "ppo/equity/seed_0"}
    assert {unit["node"]["ray_node_id"] for unit in summary["units"].values()} == node_ids(cluster)
    folders = [run / "ppo" / asset_class for asset_class in ("commodity", "equity")]
    for folder in folders:
        for name in ("best_model.zip", "signals.parquet", "metrics.json", "log.jsonl", "unit_config.json"):
            assert (folder / name).is_file(), f"{folder / name} did not come back"
    states = {folder: read_state(folder) for folder in folders}
    run_ok(command, cwd=REPO)  # the same command again: every unit is finished, none is trained again
    assert {folder: read_state(folder) for folder in folders} == states


@pytest.mark.slow
def test_a_unit_on_a_lost_node_is_rerun_on_another_in_a_fresh_folder(
    cluster: Cluster, on_cluster: Callable[..., ExecutionConfig], tmp_path: Path
) -> None:
    run, _ = driver_run(tmp_path)
    victim = cluster.add_node(num_cpus=1)
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    # Three units on three one-CPU nodes: one lands on the victim and waits there until the node is removed.
    units = writers(run, count=3, attempts=attempts, linger_on=victim.node_id, hold_seconds=3.0)
    removed = threading.Event()

    def remove_victim() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(victim.node_id in p.name for p in attempts.iterdir()):
            time.sleep(0.2)
        cluster.remove_node(victim)
        removed.set()

    remover = threading.Thread(target=remove_victim, daemon=True)
    remover.start()
    outcomes = run_units(units, on_cluster(storage=DRIVER, max_retries=2))
    remover.join(timeout=60)
    assert removed.is_set()
    marks = sorted(p.name for p in attempts.iterdir())
    lost = [m.split("--")[0] for m in marks if m.endswith(victim.node_id)]
    assert len(lost) == 1 and len(marks) == 4, marks  # one unit started twice: on the victim, then elsewhere
    for unit, value in zip(units, values(outcomes), strict=True):
        assert value["node"] != victim.node_id and value["reused"] is False
        assert unit.job is not None and (unit.job.run_dir / STATE_FILE).read_bytes() == STATE_BYTES
