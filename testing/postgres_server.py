"""A real PostgreSQL server for the tests: initdb in its own folder, its own loopback port,
no fsync (nothing here must survive a crash), stopped with the test."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from testing import free_port

# PostgreSQL refuses to run as root; Debian's package makes this user for it.
SERVER_USER = "postgres"


def server_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        # A failure, not a skip: without it the accounts are tested on SQLite only.
        raise RuntimeError(f"{name} is not installed; .ci/run installs Debian's postgresql")
    return found


class PostgresServer:
    """``with PostgresServer() as server:``; ``server.url`` names database ``artproxy``. Its
    folder is its own, under the system's temporary folder: run as root, the server's user
    could not reach into the test's (pytest's folders are the owner's only)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="artproxy-postgres-"))
        self.port = free_port()
        self.url = f"postgresql://artproxy@127.0.0.1:{self.port}/artproxy"
        self.process: subprocess.Popen | None = None
        self.as_other_user = os.getuid() == 0

    def _run_as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if self.as_other_user else command

    def start(self) -> None:
        if self.as_other_user:
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        subprocess.run(self._run_as_owner(
            [server_binary("initdb"), "-D", str(self.folder / "data"), "-U", "artproxy",
             "--auth=trust", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120)
        self.process = process = subprocess.Popen(self._run_as_owner(
            [server_binary("postgres"), "-D", str(self.folder / "data"), "-h", "127.0.0.1",
             "-p", str(self.port), "-k", str(self.folder), "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        give_up = time.monotonic() + 30
        while subprocess.run(self._run_as_owner(
                [server_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", "artproxy", "artproxy"]), capture_output=True).returncode != 0:
            if time.monotonic() > give_up or process.poll() is not None:
                raise RuntimeError("postgres did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client to leave),
            # sent to the server itself: runuser passes on SIGTERM only.
            pid_file = self.folder / "data" / "postmaster.pid"
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
            except (OSError, ValueError, IndexError):
                self.process.terminate()
            self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_database(self, name: str) -> str:
        """Make an empty database ``name`` on this server; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
