"""Descriptors: the soft limit is lifted, connections fit it, and EMFILE is recognised when wrapped."""

from __future__ import annotations

import errno
import resource

import requests
import urllib3.exceptions

import capacity


def test_connections_fit_two_descriptors_each_and_stay_within_the_benchmarked_1000():
    assert capacity.connections_per_worker(256) == 96
    assert capacity.connections_per_worker(1024) == 480
    assert capacity.connections_per_worker(1_000_000) == 1000
    assert capacity.connections_per_worker(10) == 16


def test_the_soft_limit_is_lifted_to_the_hard_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda kind, limits: calls.append(limits))
    assert capacity.raise_open_file_limit() == 4096
    assert calls == [(4096, 4096)]


def test_emfile_is_found_however_requests_wraps_it():
    emfile = OSError(errno.EMFILE, "Too many open files")
    new_connection = urllib3.exceptions.NewConnectionError(None, "cannot connect")
    new_connection.__cause__ = emfile
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", new_connection))
    assert capacity.out_of_descriptors(wrapped)
    assert not capacity.out_of_descriptors(requests.ConnectionError("refused"))
    assert not capacity.out_of_descriptors(OSError(errno.ECONNREFUSED, "refused"))


def test_large_allocations_are_kept_on_glibc():
    # On the Linux this runs on (glibc), mallopt accepts both settings; elsewhere it is a no-op.
    import platform

    kept = capacity.keep_large_allocations()
    assert kept == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
