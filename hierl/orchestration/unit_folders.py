"""How a unit's run folder reaches the driver's run folder from the node that ran it (`multistage.ray.storage`).

A unit of a multi-stage run writes one run folder and may read a few files the driver holds (the CQL run a PPO unit
warm-starts from, the signals a SAC unit allocates across). On one machine, or on a cluster whose nodes share a
filesystem, every node sees the driver's run folder and a unit writes straight into it. Without a shared filesystem
a path of the driver means nothing on another node, so the unit runs in a node-local scratch folder instead:

- `shared` (the default): nothing travels; units write into the driver's run folder, as they do without Ray.
- `driver`: the unit's existing folder and its inputs go to the node as one zip archive with the Ray task, and the
  folder comes back as a zip archive in the task's return value (both through Ray's object store).
- a storage location every node and the driver can write (an absolute path such as an NFS mount, or a URI that
  `pyarrow.fs` opens: `file:///...`, `s3://bucket/prefix`, `gs://bucket/prefix`): the same archives go through it
  instead of Ray's object store, which suits large folders; a unit's archives are deleted once the driver has them.

Archives carry files only: the driver replaces its copy of a unit folder by the files of the folder the unit
wrote, and never unpickles anything. The unit's existing folder travels to the node for the resume contract: a
finished folder is reused there (nothing changed, so nothing comes back and the driver's copy is left as it is) and
with `resume=true` an interrupted one continues from its checkpoint, exactly as in the driver's folder.

A job is moved explicitly (`FolderJob.relocated`): it names its folder and the files outside it that it reads, and
returns a copy of itself that writes and reads the node-local copies. The scratch folder's path is a digest of the
driver's folder, so a unit Ray retries after its node was lost, or a rerun, starts again from a fresh copy of the
same files at the same path, and the paths a checkpoint recorded match when it is resumed.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import socket
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

from hierl.config.checks import STORAGE_MODES, check_ray_storage
from hierl.errors import UserError

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

SHARED, DRIVER = STORAGE_MODES
SCRATCH_ROOT = "hierl-units"  # under the node's temp folder (TMPDIR)
RUN_ENTRY = "run"
INPUTS_ENTRY = "inputs"
TO_NODE = "to_node.zip"
FROM_NODE = "from_node.zip"
PROBE = ".hierl-probe"

R = TypeVar("R")
J = TypeVar("J", bound="FolderJob")


class FolderJob(Protocol):
    """A unit's job that writes one run folder and may read files or folders outside it."""

    @property
    def run_dir(self) -> Path:
        """The folder the job writes, as the driver names it."""
        ...

    def inputs(self) -> tuple[Path, ...]:
        """The files or folders outside `run_dir` the job reads, as the driver names them."""
        ...

    def relocated(self, run_dir: Path, inputs: Mapping[Path, Path]) -> Self:
        """This job writing `run_dir` and reading each input at its new place (`inputs`: driver path -> new path).

        What decides whether a finished folder is reused stays the driver's, so a folder reads the same wherever it
        was written."""
        ...


def input_paths(*paths: str | None) -> tuple[Path, ...]:
    """The inputs a job's config names (null entries dropped): what `FolderJob.inputs` returns."""
    return tuple(Path(path) for path in paths if path is not None)


def moved(path: str | None, inputs: Mapping[Path, Path]) -> str | None:
    """`path` at its new place when it was moved, else unchanged: what `FolderJob.relocated` writes into a config."""
    if path is None or Path(path) not in inputs:
        return path
    return str(inputs[Path(path)])


@dataclass(frozen=True)
class Parcel:
    """A job's folder and inputs on their way to the node that runs it.

    `key` names the unit's scratch folder and its place in storage; `inputs` are the inputs that were sent, as the
    driver names them (the i-th is `inputs/<i>/<name>` in the archive). `archive` is the zip with `storage=driver`;
    with a storage location it is None and the zip waits at `<storage>/<key>/to_node.zip`.
    """

    storage: str
    key: str
    inputs: tuple[Path, ...]
    archive: bytes | None = None


@dataclass(frozen=True)
class Returned:
    """A unit's folder on its way back: the zip with `storage=driver`, else None (it waits in storage)."""

    archive: bytes | None = None


# --- The driver's side. ---


def check_storage(storage: str) -> None:
    """Refuse, in one line and before any unit starts, a storage that cannot carry unit folders.

    A mode or the form of a location is `hierl.config.checks.check_ray_storage`'s; a location is also opened and
    written once here, so missing credentials or a read-only mount stop the run before any training.
    """
    check_ray_storage(storage)
    if storage in STORAGE_MODES:
        return
    try:
        _write(storage, PROBE, b"")
        _delete(storage, PROBE)
    except Exception as error:  # pyarrow raises OSError, ArrowInvalid (a ValueError) and others
        raise UserError(
            f"multistage.ray.storage={storage!r} cannot be written from this machine ({_first_line(error)}); give a "
            "path or URI every node and this machine can write (such as /mnt/nfs/hierl or s3://bucket/prefix), or "
            "multistage.ray.storage=driver"
        ) from None


def send(job: FolderJob, storage: str) -> Parcel:
    """Pack `job`'s existing folder (if any) and inputs for the node; with a storage location, upload them there."""
    key = unit_key(job.run_dir)
    sent = tuple(path for path in job.inputs() if path.exists())
    entries = [(job.run_dir, f"{RUN_ENTRY}/{job.run_dir.name}")]
    entries += [(path, f"{INPUTS_ENTRY}/{index}/{path.name}") for index, path in enumerate(sent)]
    archive = zip_files(entries)
    if storage == DRIVER:
        return Parcel(storage, key, sent, archive)
    _write(storage, f"{key}/{TO_NODE}", archive)
    return Parcel(storage, key, sent)


def receive(job: FolderJob, parcel: Parcel, returned: Returned) -> None:
    """Replace the driver's copy of `job`'s folder by the one the unit wrote."""
    archive = returned.archive if returned.archive is not None else _read(parcel.storage, f"{parcel.key}/{FROM_NODE}")
    replace_folder(job.run_dir, archive)


def discard(parcel: Parcel) -> None:
    """Delete a unit's archives from storage once the driver has what it needs (nothing to do with `driver`)."""
    if parcel.storage != DRIVER:
        _delete(parcel.storage, parcel.key)


def unit_key(run_dir: Path) -> str:
    """A stable, readable name for a unit: its folder's name and a digest of the driver's host and folder."""
    digest = hashlib.sha256(f"{socket.gethostname()}:{run_dir.resolve()}".encode()).hexdigest()[:16]
    return f"{digest}-{re.sub(r'[^A-Za-z0-9_.-]', '_', run_dir.name)}"


def replace_folder(target: Path, archive: bytes) -> None:
    """Unpack `archive` beside `target`, then swap it in, so `target` is never half old and half new."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=f".{target.name}.incoming-", dir=target.parent))
    try:
        unzip(archive, incoming)
        if not target.exists():
            incoming.rename(target)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
        try:
            incoming.rename(target)
        except OSError:
            (old / target.name).rename(target)  # the driver keeps its previous copy rather than none
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


# --- The node's side. ---


def run_node_local(parcel: Parcel, job: J, run: Callable[[J], R]) -> tuple[R, Returned | None]:
    """`run(job)` on this node in a fresh scratch folder holding the job's folder and inputs, and the folder to
    send back (None when the unit changed nothing in it, as when a finished folder is reused).

    `run` reports a unit's own error in its result rather than raising, so the folder comes back whatever happened
    to the unit (its log and `run_state.json` say why it failed). The scratch folder is deleted afterwards.
    """
    scratch = Path(tempfile.gettempdir()) / SCRATCH_ROOT / parcel.key
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        archive = parcel.archive if parcel.archive is not None else _read(parcel.storage, f"{parcel.key}/{TO_NODE}")
        unzip(archive, scratch)
        run_dir = scratch / RUN_ENTRY / job.run_dir.name
        inputs = {path: scratch / INPUTS_ENTRY / str(i) / path.name for i, path in enumerate(parcel.inputs)}
        before = folder_manifest(run_dir)
        result = run(job.relocated(run_dir, inputs))
        if folder_manifest(run_dir) == before:
            return result, None
        back = zip_files([(run_dir, "")])
        if parcel.storage == DRIVER:
            return result, Returned(back)
        _write(parcel.storage, f"{parcel.key}/{FROM_NODE}", back)
        return result, Returned()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def folder_manifest(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time: equal manifests mean nothing was written."""
    if not folder.is_dir():
        return {}
    manifest = {}
    for path in folder.rglob("*"):
        if path.is_file():
            stat = path.stat()
            manifest[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return manifest


# --- Archives and storage. ---


def zip_files(entries: Iterable[tuple[Path, str]]) -> bytes:
    """A zip of each (path, name): a file under `name`, a folder's files (and empty folders) under `name/`.

    Stored, not compressed: a run folder's large files (model zips, Parquet, npz) are compressed already.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path, name in entries:
            if path.is_file():
                archive.write(path, name)
            elif path.is_dir():
                for item in sorted(path.rglob("*")):
                    archive.write(item, "/".join(part for part in (name, item.relative_to(path).as_posix()) if part))
    return buffer.getvalue()


def unzip(archive: bytes, folder: Path) -> None:
    """Unpack `archive` into `folder`; `zipfile` keeps every member inside it (absolute names and `..` dropped)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        opened.extractall(folder)


def _location(storage: str, name: str) -> tuple[FileSystem, str]:
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(storage)
    return filesystem, f"{base.rstrip('/')}/{name}"


def _write(storage: str, name: str, data: bytes) -> None:
    filesystem, path = _location(storage, name)
    filesystem.create_dir(path.rpartition("/")[0], recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(data)


def _read(storage: str, name: str) -> bytes:
    filesystem, path = _location(storage, name)
    with filesystem.open_input_stream(path) as stream:
        data: bytes = stream.readall()
    return data


def _delete(storage: str, name: str) -> None:
    from pyarrow import fs

    filesystem, path = _location(storage, name)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.Directory:
        filesystem.delete_dir(path)
    elif info.type == fs.FileType.File:
        filesystem.delete_file(path)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
