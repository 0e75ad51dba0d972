"""The local-directory store: atomic writes, names, and deadlines checked on every read."""

from __future__ import annotations

import os

import pytest

import storage
from errors import StorageFull
from storage import new_name
from storage.file_storage import FileImageStore
from tests.helpers import START_TIME, FakeClock, stored_files


@pytest.fixture
def store(image_dir, clock):
    return FileImageStore(image_dir, clock=clock)


def test_put_then_get_returns_the_same_bytes(store):
    stored = store.put(b"png bytes", "image/png", ttl_seconds=120)
    found = store.get(stored.name)
    assert found is not None
    assert found.path.read_bytes() == b"png bytes"
    assert found.mime == "image/png"
    assert found.expires_at == START_TIME + 120


def test_name_carries_the_deadline_and_128_random_bits(store):
    stored = store.put(b"x", "image/png", ttl_seconds=120)
    deadline_ms, rest = stored.name.split("-")
    assert int(deadline_ms) == (START_TIME + 120) * 1000
    assert len(rest.removesuffix(".png")) == 32
    assert storage.parse_name(stored.name).expires_at == START_TIME + 120


def test_files_are_readable_by_a_front_web_server(store):
    stored = store.put(b"x", "image/png", ttl_seconds=120)
    assert os.stat(stored.path).st_mode & 0o777 == 0o644


def test_get_refuses_expired_images(store, clock):
    stored = store.put(b"x", "image/png", ttl_seconds=10)
    clock.advance(10)
    assert store.get(stored.name) is None


@pytest.mark.parametrize("name", ["", "x.png", "../x.png", "1-abc.png", "0-" + "a" * 32 + ".png",
                                  "123-" + "A" * 32 + ".png", "123-" + "a" * 32 + ".gif",
                                  "123-" + "a" * 31 + ".png", "١٢٣-" + "a" * 32 + ".png"])
def test_names_artproxy_did_not_make_are_refused(store, name):
    assert storage.parse_name(name) is None
    assert store.get(name) is None
    assert store.delete(name) is False


def test_a_failed_write_leaves_nothing_behind(store, image_dir, monkeypatch):
    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StorageFull):
        store.put(b"x" * 1000, "image/png", ttl_seconds=120)
    assert stored_files(image_dir) == []


def test_writes_go_through_a_temp_file_renamed_into_place(store, image_dir, monkeypatch):
    seen_before_rename = []
    real_replace = os.replace

    def watching_replace(source, target):
        seen_before_rename.append((stored_files(image_dir), open(source, "rb").read()))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", watching_replace)
    stored = store.put(b"complete", "image/png", ttl_seconds=120)
    [(names, content)] = seen_before_rename
    assert len(names) == 1 and names[0].startswith(".tmp-")  # only the temp file existed
    assert content == b"complete"  # and it was whole before it got its public name
    assert stored_files(image_dir) == [stored.name]


def test_delete(store):
    stored = store.put(b"x", "image/png", ttl_seconds=120)
    assert store.delete(stored.name) is True
    assert store.get(stored.name) is None
    assert store.delete(stored.name) is False


def test_the_folder_is_created_when_missing(tmp_path):
    FileImageStore(tmp_path / "a" / "b", clock=FakeClock()).put(b"x", "image/png", 1)
    assert len(list((tmp_path / "a" / "b").iterdir())) == 1


def touch_image(directory, expires_at: float) -> str:
    name = new_name("image/png", expires_at)
    (directory / name).write_bytes(b"png")
    return name


def test_sweep_deletes_images_at_or_past_their_deadline_only(image_dir):
    expired = touch_image(image_dir, START_TIME - 5)
    due_now = touch_image(image_dir, START_TIME)
    live = touch_image(image_dir, START_TIME + 0.5)
    assert FileImageStore(image_dir).purge_expired(now=START_TIME) == 2
    assert expired not in stored_files(image_dir) and due_now not in stored_files(image_dir)
    assert live in stored_files(image_dir)


def test_sweep_leaves_files_that_are_not_artproxys(image_dir):
    for name in (".gitkeep", "notes.txt", "1-abc.png"):
        (image_dir / name).write_text("keep")
    assert FileImageStore(image_dir).purge_expired(now=START_TIME + 10**6) == 0
    assert stored_files(image_dir) == [".gitkeep", "1-abc.png", "notes.txt"]


def test_sweep_removes_abandoned_temp_files_but_not_ones_being_written(image_dir):
    abandoned, in_progress = image_dir / ".tmp-old", image_dir / ".tmp-new"
    for path in (abandoned, in_progress):
        path.write_bytes(b"half")
    os.utime(abandoned, (START_TIME - 61, START_TIME - 61))
    os.utime(in_progress, (START_TIME - 1, START_TIME - 1))
    FileImageStore(image_dir).purge_expired(now=START_TIME)
    assert stored_files(image_dir) == [".tmp-new"]
