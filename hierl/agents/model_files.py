"""The one loader of SB3 model zips (`best_model.zip`, `model.zip`, checkpoint zips): nothing in them is unpickled.

SB3's own `load` evaluates every ':serialized:' entry of the zip's `data` member with cloudpickle, so a crafted zip
runs code when it is opened. hierl reads `data` as JSON itself and hands SB3 a replacement for every serialized
entry as `custom_objects` (SB3's `json_to_data` uses a custom object instead of deserialising that key, and
loads the `.pth` members with `torch.load(weights_only=True)`). The replacements are rebuilt from what hierl
knows: its policies are SB3's `MlpPolicy`, its spaces are Boxes with one bound each (read from the entry's
plain-text attributes, or taken from the env the model is loaded onto), its schedules are SB3's constant and
linear schedules, its activations the few of `agents.ppo.ACTIVATIONS`, and SAC's `train_freq` comes from the
config. A serialized entry hierl does not know is refused with one line.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import gymnasium
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule
from stable_baselines3.common.vec_env import VecEnv

from hierl.agents.ppo import ACTIVATIONS
from hierl.errors import ModelFileError

Algorithm = TypeVar("Algorithm", bound=BaseAlgorithm)
SERIALIZED = ":serialized:"
# Entries SB3 saves that a loaded hierl model does not need: a resumed run restores them from its checkpoint
# state (`agents.checkpointing.restore_boundary_state`), an evaluated model never uses them.
_RESTORED_ELSEWHERE = frozenset(
    {"_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer"}
)
_FLOAT = r"([-+0-9.eEinfa]+)"
_CONSTANT = re.compile(rf"^ConstantSchedule\(val={_FLOAT}\)$")
_LINEAR = re.compile(rf"^LinearSchedule\(start={_FLOAT}, end={_FLOAT}, end_fraction={_FLOAT}\)$")


def read_model_data(path: Path) -> dict[str, Any]:
    """The `data` member of an SB3 zip, parsed as JSON (nothing in it is evaluated)."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("data")
        data = json.loads(text)
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(
            f"{path} is not an SB3 model zip hierl can read ({error}); it was truncated or replaced: restore it "
            "from a copy of the run folder, or rerun that run"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: its data member is not a JSON object; restore the file or rerun that run")
    return data


def _type_name(entry: dict[str, Any]) -> str:
    """`<class 'gymnasium.spaces.box.Box'>` -> `gymnasium.spaces.box.Box`."""
    text = str(entry.get(":type:", ""))
    return text.removeprefix("<class '").removesuffix("'>")


def _box(entry: dict[str, Any], origin: str) -> gymnasium.spaces.Box:
    """A Box with one lower and one upper bound, from the entry's plain-text attributes."""
    try:
        if _type_name(entry) != "gymnasium.spaces.box.Box":
            raise ValueError(f"a {_type_name(entry) or 'unknown type'}, not a Box")
        low, high = float(entry["low_repr"]), float(entry["high_repr"])
        shape = tuple(int(n) for n in entry["_shape"])
        return gymnasium.spaces.Box(low=low, high=high, shape=shape, dtype=np.dtype(str(entry["dtype"])))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{origin}: a space hierl does not write ({error}); it is not a hierl model") from None


def _schedule(text: str, origin: str) -> ConstantSchedule | LinearSchedule:
    if match := _CONSTANT.match(text):
        return ConstantSchedule(float(match.group(1)))
    if match := _LINEAR.match(text):
        return LinearSchedule(float(match.group(1)), float(match.group(2)), float(match.group(3)))
    raise ModelFileError(f"{origin}: schedule {text!r} is not one hierl writes; it is not a hierl model")


def _learning_rate(entry: dict[str, Any], origin: str) -> ConstantSchedule | LinearSchedule:
    """`agents.ppo`'s learning rates: SB3's constant or linear schedule, from their plain-number attributes."""
    try:
        if _type_name(entry).endswith(".ConstantSchedule"):
            return ConstantSchedule(float(entry["val"]))
        if _type_name(entry).endswith(".LinearSchedule"):
            return LinearSchedule(float(entry["start"]), float(entry["end"]), float(entry["end_fraction"]))
    except (KeyError, TypeError, ValueError):
        pass
    raise ModelFileError(f"{origin}: a learning rate hierl does not write; it is not a hierl model")


def _float_schedule(entry: dict[str, Any], origin: str) -> FloatSchedule:
    if not _type_name(entry).endswith("FloatSchedule"):
        raise ModelFileError(f"{origin}: a schedule hierl does not write; it is not a hierl model")
    return FloatSchedule(_schedule(str(entry.get("value_schedule", "")), origin))


def _policy_kwargs(entry: dict[str, Any], origin: str) -> dict[str, Any]:
    """hierl's PPO policy kwargs: `net_arch` (plain JSON), an activation of `ACTIVATIONS` and `log_std_init`."""
    known = {str(cls): cls for cls in ACTIVATIONS.values()}
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        if key in (":type:", SERIALIZED):
            continue
        if key == "activation_fn" and value in known:
            kwargs[key] = known[value]
        elif key == "net_arch" and isinstance(value, list | dict):
            kwargs[key] = value
        elif key == "log_std_init" and isinstance(value, int | float) and not isinstance(value, bool):
            kwargs[key] = float(value)
        else:
            raise ModelFileError(f"{origin}: policy_kwargs.{key}={value!r} is not one hierl writes")
    return kwargs


def _replacement(
    key: str,
    entry: dict[str, Any],
    algorithm: type[BaseAlgorithm],
    env: VecEnv | None,
    known: Mapping[str, Any],
    origin: str,
) -> Any:
    """What hierl puts in place of the serialized entry `key`."""
    if key in known:
        return known[key]
    if key in _RESTORED_ELSEWHERE:
        return None
    if key == "policy_class":
        return algorithm.policy_aliases["MlpPolicy"]
    if key in ("observation_space", "action_space"):
        return getattr(env, key) if env is not None else _box(entry, f"{origin} ({key})")
    if key == "learning_rate":
        return _learning_rate(entry, f"{origin} ({key})")
    if key in ("lr_schedule", "clip_range"):
        return _float_schedule(entry, f"{origin} ({key})")
    if key == "policy_kwargs":
        return _policy_kwargs(entry, origin)
    if key == "rollout_buffer_class" and _type_name(entry) == "abc.ABCMeta":
        return RolloutBuffer
    if key == "replay_buffer_class" and _type_name(entry) == "abc.ABCMeta":
        return ReplayBuffer
    raise ModelFileError(
        f"{origin} holds a pickled entry {key!r} that hierl does not load (unpickling can run code); it was not "
        "written by hierl: use a model from a run folder you trust"
    )


def safe_custom_objects(
    path: Path,
    algorithm: type[BaseAlgorithm],
    env: VecEnv | None = None,
    known: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A replacement for every serialized entry of the zip's `data`, so SB3 deserialises none of them."""
    data = read_model_data(path)
    known = known or {}
    return {
        key: _replacement(key, entry, algorithm, env, known, str(path))
        for key, entry in data.items()
        if isinstance(entry, dict) and SERIALIZED in entry
    }


def saved_observation_shape(path: Path) -> tuple[int, ...]:
    """The observation shape a model zip was trained on, from its plain-text attributes."""
    entry = read_model_data(path).get("observation_space")
    if not isinstance(entry, dict):
        raise ModelFileError(f"{path} names no observation space; it is not a hierl model")
    return tuple(_box(entry, str(path)).shape)


def load_model(
    algorithm: type[Algorithm],
    path: Path,
    env: VecEnv | None = None,
    known: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> Algorithm:
    """`algorithm.load(path, env)` with no entry of the zip unpickled (see the module docstring).

    `known` supplies entries the zip cannot describe in plain text (SAC's `train_freq`, from the config).
    """
    custom = safe_custom_objects(path, algorithm, env, known)
    load: Callable[..., Algorithm] = algorithm.load
    try:
        return load(path, env=env, device=device, custom_objects=custom)
    except (RuntimeError, ValueError, KeyError, AssertionError, zipfile.BadZipFile) as error:
        raise ModelFileError(
            f"{path} does not load as a {algorithm.__name__} model ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); restore it from a copy of the run folder, or "
            "rerun that run"
        ) from None
