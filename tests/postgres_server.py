"""A throwaway PostgreSQL server for tests: `initdb` into a temp folder, `pg_ctl start` on a free port of
127.0.0.1, one database, and `pg_ctl stop` plus the folder removed at the end.

The server binaries come from Debian's `postgresql` package (.ci/run installs it), found on the PATH or under
/usr/lib/postgresql/<version>/bin. PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
system user (`runuser -u postgres --`) in a folder that user owns; as anyone else it runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "hierl_test"


class ServerUnavailable(RuntimeError):
    """The server could not be started here; the message says why."""


def find_binary(name: str) -> str:
    """`name` (initdb, pg_ctl) on the PATH, else the newest /usr/lib/postgresql/<version>/bin/<name>."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise ServerUnavailable(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return str(versions[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ServerUnavailable(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout)[-800:]}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server, create `DATABASE`, yield its SQLAlchemy URL (psycopg2 driver); stop and remove it after."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="hierl-postgres-"))
    as_server_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise ServerUnavailable("running as root and there is no `postgres` user to run the server as") from None
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_server_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    started = False
    try:
        _run([*as_server_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"], "initdb")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"]
        _run([*as_server_user, *start], "pg_ctl start")
        started = True
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            subprocess.run(
                [*as_server_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
