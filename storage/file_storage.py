"""Images as files in one local folder.

Correct without its sweeper: a file is written under a temporary name and renamed into place
(so a reader sees all of it or nothing), and the deadline in every name is checked on every
read (so an expired file is never served, however late the sweep). The sweep only frees disk.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import cleanup
from errors import StorageUnavailable
from storage import StoredImage, new_name, parse_name


class FileImageStore:
    def __init__(self, directory: str | Path, clock: Callable[[], float] = time.time):
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock

    def put(self, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        expires_at = self.clock() + ttl_seconds
        name = new_name(mime, expires_at)
        descriptor, temp_path = tempfile.mkstemp(dir=self.directory, prefix=cleanup.TEMP_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as temp_file:
                temp_file.write(data)
                temp_file.flush()
                # Without this a crash soon after the rename can leave an empty file behind it.
                os.fsync(temp_file.fileno())
            os.chmod(temp_path, 0o644)  # mkstemp makes 0600; a front web server may serve these
            os.replace(temp_path, self.directory / name)
        except BaseException:
            Path(temp_path).unlink(missing_ok=True)
            raise
        return StoredImage(name=name, mime=mime, expires_at=expires_at, path=self.directory / name)

    def get(self, name: str) -> StoredImage | None:
        parsed = parse_name(name)
        if parsed is None or self.clock() >= parsed.expires_at:
            return None
        path = self.directory / name
        if not path.is_file():
            return None
        return StoredImage(name=name, mime=parsed.mime, expires_at=parsed.expires_at, path=path)

    def delete(self, name: str) -> bool:
        if parse_name(name) is None:
            return False
        try:
            (self.directory / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def purge_expired(self, now: float | None = None) -> int:
        return cleanup.purge_expired(self.directory, self.clock() if now is None else now)

    def check(self) -> None:
        if not (self.directory.is_dir() and os.access(self.directory, os.W_OK | os.X_OK)):
            raise StorageUnavailable(f"The image folder {self.directory} is not writable")
