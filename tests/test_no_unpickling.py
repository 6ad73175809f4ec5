"""Opening a run folder runs no code from it: model zips, checkpoint state and replay buffers are never unpickled.

Each crafted file carries a pickle payload that creates a marker file when it is unpickled. A positive control
shows each payload does run when the file is opened the plain way (SB3's `load`, `np.load(allow_pickle=True)`,
`pickle.load`); hierl's readers leave the marker absent, and a file they cannot open safely ends the command with
one line that names it.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from runs import hierl_train, run_ok
from stable_baselines3 import PPO

from hierl.agents.model_files import ModelFileError, load_model
from hierl.errors import UserError
from hierl.tracking.checkpoints import CHECKPOINT_DIR, latest_checkpoint, list_checkpoints
from hierl.tracking.state_files import ARRAYS_FILE, decode_state, encode_state

OVERRIDES = ["agent=ppo", "asset=equity", "debug=smoke", "data=synthetic", "seed=0"]


class Payload:
    """Unpickled, it creates `marker` (through a builtin, so any process can unpickle it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def serialized(marker: Path, **readable: Any) -> dict[str, Any]:
    """An SB3 `data` entry whose cloudpickled value is the payload, beside plain-text attributes."""
    blob = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    return {":type:": "<class 'gymnasium.spaces.box.Box'>", ":serialized:": blob, **readable}


def rewrite_data(zip_path: Path, change: dict[str, Any]) -> None:
    """Replace entries of the zip's `data` member, keeping every other member."""
    with zipfile.ZipFile(zip_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["data"])
    data.update(change)
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def one_line_error(result: subprocess.CompletedProcess[str], names: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:") or names in line]
    assert any(names in line for line in lines), result.stderr[-2000:]


def test_state_files_read_back_every_number_with_its_bits_and_type() -> None:
    rng = np.random.default_rng(3)
    state: dict[str, Any] = {
        "python": (3, tuple(range(5)), None),
        "numpy": ("MT19937", np.arange(4, dtype=np.uint32), 7, 0, 0.0),
        "torch": torch.tensor([1, 2, 250], dtype=torch.uint8),
        "generator": rng.bit_generator.state,
        "obs": rng.normal(size=(2, 3)).astype(np.float32),
        "starts": np.array([True, False]),
        "score": np.float64(0.1) + np.float64(0.2),
        "floats": [-np.inf, 1e-310, 1.0 / 3.0],
        "buffer": deque([{"r": np.float32(1.5), "l": 3, "t": 0.25}], maxlen=100),
        "keys": {1: "one", "__array__": "not a marker"},
    }
    decoded = decode_state(*encode_state(state), origin="test")
    assert decoded["python"] == state["python"] and isinstance(decoded["python"][1], tuple)
    assert decoded["numpy"][0] == "MT19937" and np.array_equal(decoded["numpy"][1], state["numpy"][1])
    assert decoded["numpy"][1].dtype == np.uint32
    assert torch.equal(decoded["torch"], state["torch"])
    assert decoded["generator"] == state["generator"]
    assert decoded["obs"].dtype == np.float32 and decoded["obs"].tobytes() == state["obs"].tobytes()
    assert decoded["starts"].dtype == bool
    assert type(decoded["score"]) is np.float64 and decoded["score"] == state["score"]
    assert decoded["floats"] == state["floats"]
    assert decoded["buffer"].maxlen == 100 and type(decoded["buffer"][0]["r"]) is np.float32
    assert decoded["keys"] == state["keys"]


def test_state_that_is_not_plain_data_is_refused_when_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Payload"):
        encode_state({"env": Payload(tmp_path / "marker")})
    with pytest.raises(TypeError, match="Python objects"):
        encode_state({"env": np.array([Payload(tmp_path / "marker")], dtype=object)})


def test_an_object_array_in_a_state_archive_is_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    archive = io.BytesIO()
    np.savez(archive, a0=np.array([Payload(marker)], dtype=object))
    text = json.dumps({"obs": {"__array__": "a0"}}).encode()
    with pytest.raises(UserError, match="not a hierl checkpoint state"):
        decode_state(text, archive.getvalue(), origin="crafted")
    assert not marker.exists()
    archive.seek(0)
    np.load(archive, allow_pickle=True)["a0"]  # positive control: the plain load runs it
    assert marker.exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished smoke PPO run with checkpoints (copied by each test before it is crafted)."""
    run_dir = tmp_path_factory.mktemp("no_unpickling") / "run"
    run_ok(hierl_train(*OVERRIDES, f"hydra.run.dir={run_dir}"), timeout=600)
    assert latest_checkpoint(run_dir / CHECKPOINT_DIR) is not None
    return run_dir


def copy_run(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(source, target)
    return target


@pytest.mark.slow
def test_a_payload_beside_readable_spaces_is_ignored_and_the_model_loads(finished_run: Path, tmp_path: Path) -> None:
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "marker"
    best = run / "best_model.zip"
    with zipfile.ZipFile(best) as archive:
        entry = json.loads(archive.read("data"))["observation_space"]
    readable = {key: value for key, value in entry.items() if key not in (":type:", ":serialized:")}
    rewrite_data(best, {"observation_space": serialized(marker, **readable)})
    model = load_model(PPO, best)
    assert model.observation_space.shape == tuple(readable["_shape"])
    assert not marker.exists()
    with pytest.raises(ValueError, match="not a Gymnasium space"):
        PPO.load(best, device="cpu")  # positive control: SB3's own load runs the payload (which returns None)
    assert marker.exists()


@pytest.mark.slow
def test_evaluate_refuses_a_best_model_with_a_pickled_entry_and_runs_none_of_it(
    finished_run: Path, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "marker"
    rewrite_data(run / "best_model.zip", {"observation_space": serialized(marker), "evil": serialized(marker)})
    with pytest.raises(ModelFileError):
        load_model(PPO, run / "best_model.zip")
    result = subprocess.run(
        [sys.executable, "-m", "hierl.evaluate", f"run_dir={run}"], capture_output=True, text=True, timeout=300
    )
    one_line_error(result, "best_model.zip")
    assert not marker.exists()
    assert not list(tmp_path.glob("run_replay_*"))


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_model_with_a_pickled_entry_and_runs_none_of_it(
    finished_run: Path, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "marker"
    for checkpoint in list_checkpoints(run / CHECKPOINT_DIR):
        rewrite_data(checkpoint.model_path, {"evil": serialized(marker)})
    result = subprocess.run(
        hierl_train(*OVERRIDES, f"hydra.run.dir={run}", "resume=true"), capture_output=True, text=True, timeout=300
    )
    one_line_error(result, "model.zip")
    assert not marker.exists()


@pytest.mark.slow
def test_resume_refuses_a_state_archive_holding_a_pickle(finished_run: Path, tmp_path: Path) -> None:
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "marker"
    for checkpoint in list_checkpoints(run / CHECKPOINT_DIR):
        with (checkpoint.path / ARRAYS_FILE).open("wb") as handle:
            np.savez(handle, a0=np.array([Payload(marker)], dtype=object))
    result = subprocess.run(
        hierl_train(*OVERRIDES, f"hydra.run.dir={run}", "resume=true"), capture_output=True, text=True, timeout=300
    )
    one_line_error(result, "not a hierl checkpoint state")
    assert not marker.exists()


@pytest.mark.slow
def test_resume_refuses_an_older_pickled_checkpoint_state_with_one_line(finished_run: Path, tmp_path: Path) -> None:
    run = copy_run(finished_run, tmp_path)
    marker = tmp_path / "marker"
    newest = latest_checkpoint(run / CHECKPOINT_DIR)
    assert newest is not None
    for name in ("state.json", ARRAYS_FILE):
        (newest.path / name).unlink()
    (newest.path / "state.pkl").write_bytes(pickle.dumps(Payload(marker)))
    result = subprocess.run(
        hierl_train(*OVERRIDES, f"hydra.run.dir={run}", "resume=true"), capture_output=True, text=True, timeout=300
    )
    one_line_error(result, "state.pkl")
    assert "older hierl" in result.stderr
    assert not marker.exists()
    pickle.loads((newest.path / "state.pkl").read_bytes())  # positive control
    assert marker.exists()
