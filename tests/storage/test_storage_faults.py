"""Disk faults under the real server: full, read-only and deleted folders answer JSON, never 500."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.real_server import get, serve


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs of the test's own, so "disk full" is real and harms nothing else."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder) -> None:
    with open(folder / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_disk_is_507_and_readiness_says_so(small_disk, processes):
    image_dir = small_disk / "images"
    base_url = serve(processes, image_dir, workers=2)
    fill(small_disk)
    status, headers, body = get(base_url + "/image?p=harbour")
    assert (status, body["code"]) == (507, "storage_full")
    assert int(headers["Retry-After"]) > 0
    assert [path.name for path in image_dir.iterdir()] == []  # no half-written temp file left
    status, _, body = get(base_url + "/healthz")
    assert status == 503 and body["storage"]["reachable"] is False
    assert "free" in body["storage"]["error"]
    assert str(small_disk) not in body["storage"]["error"]  # /healthz is public


def test_a_read_only_folder_is_503(small_disk, tmp_path, processes):
    # The state (jobs, counters) elsewhere: a file open for writing would keep the remount from
    # happening ("mount point is busy").
    base_url = serve(processes, small_disk / "images", workers=2,
                     ARTPROXY_STATE_DIR=str(tmp_path / "state"))
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    status, headers, body = get(base_url + "/image?p=harbour")
    assert (status, body["code"], headers["Retry-After"]) == (503, "storage_unavailable", "5")
    assert get(base_url + "/healthz")[0] == 503


def test_a_folder_deleted_at_run_time_is_made_again(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2)
    shutil.rmtree(image_dir)
    status, _, body = get(base_url + "/image?p=harbour")
    assert status == 200
    assert (image_dir / body["url"].removeprefix("/images/")).is_file()
    shutil.rmtree(image_dir)
    assert get(base_url + "/healthz")[0] == 200
    assert image_dir.is_dir()
