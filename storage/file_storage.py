"""Images as files in one local folder.

Correct without its sweeper: a file is written under a temporary name and renamed into place
(so a reader sees all of it or nothing), and the deadline in every name is checked on every
read (so an expired file is never served, however late the sweep). The sweep only frees disk;
cleanup.py decides when it runs, this module what it deletes.

A cache entry is a symbolic link in CACHE_FOLDER, named by its key, to an ordinary stored
image: a link is made under a temporary name and renamed over the old one in one step, and
reading it is a single readlink, after which the image is read (and checked) as any other.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clock import Clock
from config import project_path
from errors import StorageFull, StorageUnavailable
from storage import (
    CACHE_KEY_PATTERN,
    ImageRecord,
    LimitsStorage,
    StoredImage,
    live_name,
    new_name,
    parse_name,
)

log = logging.getLogger("artproxy")

TEMP_PREFIX = ".tmp-"
# A write takes milliseconds; a temp file this old was left by a process that died mid-write.
ABANDONED_TEMP_SECONDS = 60
LIMITS_FILE = "limits.sqlite"
# Readiness wants room for a few more images: upstream answers are a few MB, at most 20 MB.
MIN_FREE_BYTES = 32 * 2**20
CACHE_FOLDER = ".prompt-cache"  # inside the image folder; a name no image can have
# A cache link points at its image relatively, so it stays right wherever the folder is mounted.
LINK_PREFIX = "../"


class FileImageStore:
    kind = "file"
    needs_sweeping = True

    def __init__(self, directory: str | Path, clock: Clock = time.time,
                 state_directory: str | Path | None = None):
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state_directory = Path(state_directory or self.directory.parent / "state").resolve()
        self.clock = clock

    def __repr__(self) -> str:
        return f"FileImageStore({str(self.directory)!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Clock) -> FileImageStore:
        return cls(project_path(config["IMAGE_DIR"]), clock, project_path(config["STATE_DIR"]))

    def put(self, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        expires_at = self.clock() + ttl_seconds
        name = new_name(mime, expires_at)
        try:
            return self._write(name, data, mime, expires_at)
        except FileNotFoundError:
            # The folder was deleted under us: make it again, once, rather than fail until restart.
            self._recreate_folder()
        try:
            return self._write(name, data, mime, expires_at)
        except FileNotFoundError as error:
            raise StorageUnavailable() from error

    def _write(self, name: str, data: bytes, mime: str, expires_at: float) -> StoredImage:
        try:
            descriptor, temp_path = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise storage_error(error) from error
        try:
            with os.fdopen(descriptor, "wb") as temp_file:
                temp_file.write(data)
                temp_file.flush()
                # Without this a crash soon after the rename can leave an empty file behind it.
                os.fsync(temp_file.fileno())
            os.chmod(temp_path, 0o644)  # mkstemp makes 0600; a front web server may serve these
            os.replace(temp_path, self.directory / name)
        except BaseException as error:
            Path(temp_path).unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise storage_error(error) from error
            raise
        return StoredImage(name=name, mime=mime, expires_at=expires_at, path=self.directory / name)

    def put_cached(self, key: str, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        link = self._cache_link(key)
        stored = self.put(data, mime, ttl_seconds)
        try:
            link.parent.mkdir(exist_ok=True)
            temp_link = link.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
            os.symlink(LINK_PREFIX + stored.name, temp_link)
            os.replace(temp_link, link)
        except OSError as error:
            self.delete(stored.name)
            raise storage_error(error) from error
        return stored

    def get_cached(self, key: str) -> StoredImage | None:
        try:
            name = linked_name(self._cache_link(key))
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.EINVAL):  # EINVAL: no link
                return None
            raise StorageUnavailable() from error
        # get() checks the name against the pattern, its deadline and that it is a plain file.
        return self.get(name)

    def count_cached(self) -> int:
        now = self.clock()
        try:
            with os.scandir(self.directory / CACHE_FOLDER) as links:
                return sum(1 for link in links if live_link(link, now))
        except FileNotFoundError:
            return 0
        except OSError as error:
            raise StorageUnavailable() from error

    def _cache_link(self, key: str) -> Path:
        if not CACHE_KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.directory / CACHE_FOLDER / key

    def _recreate_folder(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(error) from error
        log.warning("the image folder %s was missing and has been made again", self.directory)

    def get(self, name: str) -> StoredImage | None:
        parsed = live_name(name, self.clock())
        if parsed is None:
            return None
        path = self.directory / name
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageUnavailable() from error
        # Only a file artproxy wrote: regular, and its only name. A symlink, a hard link to
        # another file (two names) or a directory planted under a valid name is never served.
        if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
            log.warning("%s is not a file artproxy wrote; not served", path)
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
        """Delete images whose deadline is at or before ``now``, and abandoned temp files.

        Files that are not artproxy's are left alone. An entry that cannot be deleted is
        logged and skipped, so one bad entry never stops the sweep of the others.
        Returns how many images were deleted."""
        now = self.clock() if now is None else now
        deleted = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    if is_expired_image(entry, now):
                        os.unlink(entry.path)
                        deleted += 1
                    elif is_abandoned_temp_file(entry, now):
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass  # another process's sweep got there first
                except OSError as error:
                    log.warning("expiry sweep could not delete %s: %s", entry.path, error)
        self._purge_cache_links(now)
        return deleted

    def _purge_cache_links(self, now: float) -> None:
        """Remove cache entries whose image is past its deadline or gone, and abandoned temps."""
        try:
            with os.scandir(self.directory / CACHE_FOLDER) as links:
                for link in links:
                    try:
                        if self._stale_link(link, now):
                            os.unlink(link.path)
                    except FileNotFoundError:
                        pass  # another process's sweep got there first
                    except OSError as error:  # e.g. a file that is no link: left alone
                        log.warning("expiry sweep skipped %s: %s", link.path, error)
        except FileNotFoundError:
            pass  # no cache entry was ever made
        except OSError as error:
            log.warning("expiry sweep could not clean %s: %s", CACHE_FOLDER, error)

    def _stale_link(self, link: os.DirEntry, now: float) -> bool:
        if link.name.startswith(TEMP_PREFIX):
            return is_abandoned_temp_file(link, now)
        if not link.is_symlink():
            return False  # not artproxy's: left alone
        name = linked_name(link.path)
        return live_name(name, now) is None or not os.path.lexists(self.directory / name)

    def list_images(self) -> list[ImageRecord]:
        now = self.clock()
        records = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    parsed = live_name(entry.name, now)
                    if parsed is None:
                        continue
                    try:
                        status = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # swept meanwhile
                    if stat.S_ISREG(status.st_mode) and status.st_nlink == 1:
                        records.append(ImageRecord(entry.name, parsed.mime, status.st_size,
                                                   status.st_mtime, parsed.expires_at))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise StorageUnavailable() from error
        return sorted(records, key=lambda record: record.created_at)

    def check(self) -> None:
        """Usable now: the folder exists (made again if it was deleted), takes a write, and has
        room for at least one more large image. The message never names the path: it is public."""
        if not self.directory.is_dir():
            self._recreate_folder()
        try:
            probe_descriptor, probe = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX)
            os.close(probe_descriptor)
            os.unlink(probe)
            room = shutil.disk_usage(self.directory).free
        except OSError as error:
            raise StorageUnavailable("The image folder cannot be written") from error
        if room < MIN_FREE_BYTES:
            raise StorageFull(f"The image folder has less than {MIN_FREE_BYTES // 2**20} MiB free")

    def limits_storage(self) -> LimitsStorage:
        # Every worker process of this instance opens the same file (storage/sqlite_counters.py).
        import storage.sqlite_counters  # noqa: F401  (registers the artproxy-sqlite scheme)

        # The store's clock goes along, so tests that control time control windows and cooldowns.
        return LimitsStorage(f"artproxy-sqlite://{self.state_directory / LIMITS_FILE}",
                             {"clock": self.clock}, shared_by_instances=False)


def is_expired_image(entry: os.DirEntry, now: float) -> bool:
    parsed = parse_name(entry.name)
    return parsed is not None and parsed.expires_at <= now


def live_link(link: os.DirEntry, now: float) -> bool:
    """Whether ``link`` is a cache entry whose image's name says it still lives."""
    if link.name.startswith(TEMP_PREFIX):
        return False
    try:
        name = linked_name(link.path)
    except OSError:  # gone meanwhile, or not a link at all
        return False
    return live_name(name, now) is not None


def linked_name(link: str | Path) -> str:
    """The name of the image a cache link points at; OSError if ``link`` is none."""
    return os.readlink(link).removeprefix(LINK_PREFIX)


def is_abandoned_temp_file(entry: os.DirEntry, now: float) -> bool:
    return (entry.name.startswith(TEMP_PREFIX)
            and entry.stat(follow_symlinks=False).st_mtime < now - ABANDONED_TEMP_SECONDS)


def storage_error(error: OSError) -> StorageUnavailable:
    """A full disk is 507 (retry later, after space is freed); any other fault 503."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull()
    return StorageUnavailable()
