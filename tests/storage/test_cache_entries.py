"""Cache entries (prompt URLs): an ordinary stored image that the store also files under a key,
in both stores: the file store's links in the image folder, Redis' keys."""

from __future__ import annotations

import os

import pytest

from storage.file_storage import CACHE_FOLDER, FileImageStore
from storage.redis_storage import RedisImageStore
from tests.helpers import FakeClock

KEY = "ab" * 32
OTHER_KEY = "cd" * 32
PNG = "image/png"


@pytest.fixture(params=["file", "redis"])
def store(request, image_dir, tmp_path):
    clock = FakeClock()
    if request.param == "file":
        return FileImageStore(image_dir, clock=clock)
    from testing.redis_server import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    request.addfinalizer(server.stop)
    return RedisImageStore(server.client(), "test:", clock)


def test_an_entry_is_a_stored_image_found_by_its_key(store):
    stored = store.put_cached(KEY, b"picture", PNG, 60)
    found = store.get_cached(KEY)
    assert found is not None and found.name == stored.name
    assert store.get(stored.name) is not None  # an image like any other
    assert store.get_cached(OTHER_KEY) is None
    assert store.count_cached() == 1


def test_a_new_entry_replaces_the_old_one(store):
    store.put_cached(KEY, b"old", PNG, 60)
    newer = store.put_cached(KEY, b"new", PNG, 60)
    assert store.get_cached(KEY).name == newer.name


def test_an_entry_ends_with_its_image(store):
    store.put_cached(KEY, b"picture", PNG, 60)
    store.clock.now += 61
    assert store.get_cached(KEY) is None
    assert store.count_cached() == 0


def test_a_deleted_image_is_no_entry_any_more(store):
    stored = store.put_cached(KEY, b"picture", PNG, 60)
    assert store.delete(stored.name)
    assert store.get_cached(KEY) is None


def test_a_key_that_is_not_a_hash_never_reaches_the_store(store):
    with pytest.raises(ValueError):
        store.put_cached("../../etc/passwd", b"x", PNG, 60)


def test_the_sweep_removes_entries_whose_image_is_gone(image_dir):
    clock = FakeClock()
    store = FileImageStore(image_dir, clock=clock)
    expiring = store.put_cached(KEY, b"picture", PNG, 60)
    deleted = store.put_cached(OTHER_KEY, b"picture", PNG, 600)
    store.delete(deleted.name)
    clock.now += 61
    assert store.purge_expired() == 1  # the expired image; the links are not counted
    assert os.listdir(image_dir / CACHE_FOLDER) == []
    assert not (image_dir / expiring.name).exists()


def test_a_planted_link_is_never_served_and_its_target_is_left_alone(image_dir, tmp_path):
    store = FileImageStore(image_dir, clock=FakeClock())
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not artproxy's")
    (image_dir / CACHE_FOLDER).mkdir()
    os.symlink(secret, image_dir / CACHE_FOLDER / KEY)
    (image_dir / CACHE_FOLDER / OTHER_KEY).write_bytes(b"a file, no link")
    assert store.get_cached(KEY) is None
    assert store.get_cached(OTHER_KEY) is None
    store.purge_expired()
    assert secret.read_bytes() == b"not artproxy's"
    assert (image_dir / CACHE_FOLDER / OTHER_KEY).exists()  # not artproxy's either
