"""Training state as JSON plus an `.npz` of its arrays: what a checkpoint saves instead of a pickle.

Loading a pickle runs whatever code the file names, and run folders travel (W&B artefacts, a colleague's results),
so no state file is unpickled. `encode_state` turns the nested state of a checkpoint (dicts, lists, tuples,
deques, numbers, strings, numpy arrays and scalars, torch tensors) into JSON text and an npz archive; arrays are
read back with `allow_pickle=False`. Floats go through JSON's shortest round-tripping repr and numpy scalars
through 0-d arrays, so every number comes back with the same bits and the same type. Anything else is refused
when the state is written, so a new kind of state cannot slip back into a pickle.
"""

from __future__ import annotations

import io
import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hierl.errors import UserError

STATE_FILE = "state.json"
ARRAYS_FILE = "state.npz"
_MARKERS = ("__array__", "__scalar__", "__tensor__", "__tuple__", "__deque__", "__items__")


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _store(self, array: np.ndarray) -> str:
        if array.dtype.hasobject:
            raise TypeError("a state array of Python objects cannot be saved without pickling")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def encode(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return {"__array__": self._store(np.array(value))}
        if isinstance(value, np.generic):
            return {"__scalar__": self._store(np.array(value))}
        if isinstance(value, torch.Tensor):
            return {"__tensor__": self._store(value.detach().cpu().numpy().copy())}
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(item) for item in value]}
        if isinstance(value, list):
            return [self.encode(item) for item in value]
        if isinstance(value, deque):
            return {"__deque__": [self.encode(item) for item in value], "maxlen": value.maxlen}
        if isinstance(value, dict):
            if all(isinstance(key, str) and key not in _MARKERS for key in value):
                return {key: self.encode(item) for key, item in value.items()}
            return {"__items__": [[self.encode(key), self.encode(item)] for key, item in value.items()]}
        raise TypeError(f"checkpoint state of type {type(value).__name__} cannot be saved as JSON and npz")


def encode_state(state: Any) -> tuple[bytes, bytes]:
    """(JSON text, npz archive) of `state`; a TypeError names any value that is not plain data."""
    encoder = _Encoder()
    tree = encoder.encode(state)
    arrays = io.BytesIO()
    np.savez(arrays, **encoder.arrays)  # type: ignore[arg-type]
    return json.dumps(tree).encode(), arrays.getvalue()


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__scalar__" in value:
        return arrays[value["__scalar__"]][()]
    if "__tensor__" in value:
        return torch.from_numpy(np.array(arrays[value["__tensor__"]]))
    if "__tuple__" in value:
        return tuple(_decode(item, arrays) for item in value["__tuple__"])
    if "__deque__" in value:
        return deque((_decode(item, arrays) for item in value["__deque__"]), maxlen=value["maxlen"])
    if "__items__" in value:
        return {_decode(key, arrays): _decode(item, arrays) for key, item in value["__items__"]}
    return {key: _decode(item, arrays) for key, item in value.items()}


def decode_state(text: bytes, archive: bytes, origin: str) -> Any:
    """What `encode_state` encoded; a file that is not such a pair is a UserError naming `origin`."""
    try:
        tree = json.loads(text)
        with np.load(io.BytesIO(archive), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        return _decode(tree, arrays)
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise UserError(
            f"{origin} is not a hierl checkpoint state ({error}); it was truncated or edited: resume from another "
            "checkpoint or start a new run folder"
        ) from None


def write_state(folder: Path, state: tuple[bytes, bytes]) -> None:
    """Write an encoded state into `folder` (a checkpoint's temporary folder, renamed when complete)."""
    text, archive = state
    (folder / STATE_FILE).write_bytes(text)
    (folder / ARRAYS_FILE).write_bytes(archive)


def read_state(folder: Path) -> Any:
    """The state `write_state` wrote into `folder`."""
    origin = f"{folder / STATE_FILE} (with {ARRAYS_FILE})"
    return decode_state((folder / STATE_FILE).read_bytes(), (folder / ARRAYS_FILE).read_bytes(), origin)
