"""One command for every figure in BENCHMARKS.md: ``bench/run`` (or ``python -m bench``).

    python -m bench                 the four targets, production server setup, seed baseline
    python -m bench --only 1,3      some of them (R: Redis storage against the local folder,
                                    J: jobs against /image, P and p: prompt URL cache hits
                                    against /images/<name>, a 1 MB and a 64x64 PNG, F: the
                                    free upstreams' fakes, L: /v1 against LiteLLM's proxy)
    python -m bench --compare       targets 1 and 2 under candidate gunicorn setups
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from bench import peer, scenarios
from bench.photos import photo, photo_jpeg
from bench.scenarios import Row, ServerSetup

CANDIDATES = [
    ServerSetup("gthread 2 workers x 32 threads", ("-k", "gthread", "-w", "2", "--threads", "32")),
    ServerSetup("gthread 2 workers x 500 threads",
                ("-k", "gthread", "-w", "2", "--threads", "500")),
    ServerSetup("gevent (gunicorn's worker) 2 workers", ("-k", "gevent", "-w", "2")),
    ServerSetup("gevent (sendfile_worker) 2 workers", ("-w", "2")),
    ServerSetup("gevent (sendfile_worker) 4 workers", ("-w", "4")),
]


# target -> the scenario that measures it, and the picture its fake upstream answers with.
TARGETS: dict[str, tuple[Callable[[Path], list[Row]], str]] = {
    "1": (scenarios.throughput, "photo"),
    "2": (scenarios.slow_upstream, "small"),
    "3": (scenarios.serving, "big"),
    "4": (scenarios.expiry, "tiny"),
    "R": (scenarios.storage_compare, "big"),  # Redis storage against the local folder
    "J": (scenarios.jobs_compare, "small"),  # jobs against /image
    "P": (scenarios.prompt_cache_hits, "big"),  # prompt URL hits against /images/<name>
    "p": (scenarios.prompt_cache_hits, "tiny"),  # the same with a 64x64 picture
    "F": (scenarios.free_upstreams, "tiny"),  # AI Horde and Pollinations, played by fakes
    "L": (peer.litellm_peer, "png256"),  # /v1/images/generations against LiteLLM's proxy
}


def make_pictures(folder: Path) -> dict[str, Path]:
    pictures = {"photo": folder / "photo.jpg", "small": folder / "small.jpg",
                "big": folder / "big.png", "tiny": folder / "tiny.png",
                "png256": folder / "png256.png"}
    pictures["photo"].write_bytes(photo_jpeg(1024))
    pictures["small"].write_bytes(photo_jpeg(256))
    buffer = io.BytesIO()
    # The 1024x1024 photograph as a PNG of about 1 MB, which artproxy stores as it is.
    Image.open(pictures["photo"]).save(buffer, format="PNG", compress_level=9)
    pictures["big"].write_bytes(buffer.getvalue())
    photo(64).save(pictures["tiny"], format="PNG")
    photo(256).save(pictures["png256"], format="PNG")
    return pictures


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in open("/proc/meminfo")
                     if line.startswith("MemTotal"))
    tools = [subprocess.run(command, capture_output=True, text=True).stderr.strip() or
             subprocess.run(command, capture_output=True, text=True).stdout.strip()
             for command in (["nginx", "-v"], ["wrk", "-v"])]
    return (f"{cpu}, {os.cpu_count()} cores, {memory_kb / 2**20:.0f} GiB, Linux "
            f"{platform.release()}, Python {platform.python_version()}; "
            + "; ".join(tool.splitlines()[0] for tool in tools if tool))


def table(rows: list[Row]) -> str:
    lines = ["| # | Measure | artproxy | Anchor | Ratio | Goal | Met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(f"| {row.target} | {row.measure} | {row.artproxy} | {row.anchor} | "
                     f"{row.ratio} | {row.goal} | {met} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="artproxy's benchmark")
    parser.add_argument("--only", default=",".join(TARGETS),
                        help="targets to run, e.g. 1,3; R is Redis against the local folder, "
                             "J jobs against /image, P and p prompt URL hits against "
                             "/images/<name>")
    parser.add_argument("--compare", action="store_true",
                        help="run targets 1 and 2 under each candidate server setup")
    arguments = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-pictures-") as folder:
        pictures = make_pictures(Path(folder))
        if arguments.compare:
            for setup in CANDIDATES:
                rows = (scenarios.throughput(pictures["photo"], setup, with_seed=False)[:1]
                        + scenarios.slow_upstream(pictures["small"], setup, with_seed=False))
                print(f"\n### {setup.label}\n\n{table(rows)}", flush=True)
        else:
            chosen = arguments.only.split(",")
            unknown = [target for target in chosen if target not in TARGETS]
            if unknown:
                parser.error(f"no target {unknown[0]!r}; choose from {','.join(TARGETS)}")
            rows = []
            for target, (run, picture) in TARGETS.items():
                if target in chosen:
                    rows += run(pictures[picture])
            print(table(rows))
    print(f"\nMachine: {machine()}\nRun took {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
