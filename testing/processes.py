"""Processes as /proc shows them: who started whom (gunicorn's workers, RQ's work horse)."""

from __future__ import annotations

from pathlib import Path


def children_by_parent() -> dict[int, list[int]]:
    """Every running process, under the pid of its parent."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # exited between listing and reading
            children.setdefault(parent, []).append(int(entry.name))
    return children


def child_pids(parent_pid: int) -> list[int]:
    """The processes ``parent_pid`` started itself."""
    return children_by_parent().get(parent_pid, [])


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its descendants."""
    children = children_by_parent()
    found, waiting = [], [root_pid]
    while waiting:
        pid = waiting.pop()
        found.append(pid)
        waiting.extend(children.get(pid, []))
    return found
