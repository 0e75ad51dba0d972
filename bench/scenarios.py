"""The benchmark's scenarios. Each starts what it needs, measures, stops it, and returns rows."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.load import Batch, hey, wrk
from bench.nginx import start_nginx
from bench.processes import (
    Server,
    cpu_seconds,
    free_port,
    process_tree,
    python_command,
    rss_bytes,
)
from storage import parse_name
from storage.file_storage import FileImageStore
from testing.redis_server import RedisServer

FORM = b"prompt=a+lighthouse+at+dusk&output_format=bytes"
FORM_TYPE = "application/x-www-form-urlencoded"
CORES = os.cpu_count() or 1
OPTION_PATH = "&aspect=16:9&format=webp"


@dataclass
class Row:
    target: str
    measure: str
    artproxy: str
    anchor: str
    ratio: str
    goal: str
    met: bool | None  # None: reported, no goal


@dataclass
class ServerSetup:
    """How artproxy is started: ``python main.py`` (production) or gunicorn with overrides."""
    label: str
    gunicorn_overrides: tuple[str, ...] = ()

    def command(self) -> list[str]:
        if not self.gunicorn_overrides:
            return python_command("main.py")
        return python_command("-m", "gunicorn", "-c", "gunicorn.conf.py", *self.gunicorn_overrides,
                              "main:app")


PRODUCTION = ServerSetup("python main.py")


def start_upstream(image: Path, delay: float = 0.0) -> Server:
    port = free_port()
    return Server(f"upstream-{image.stem}", python_command(
        "-m", "testing.load_upstream", "--port", str(port), "--delay", str(delay),
        "--image", str(image)),
        port, ready_path=None)


class Reachable(Protocol):
    @property
    def url(self) -> str:
        ...


def start_artproxy(setup: ServerSetup, upstream: Reachable, image_dir: Path,
                   **settings: str) -> Server:
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "ARTPROXY_PROVIDER": "magicstudio",
           "ARTPROXY_MAGICSTUDIO_URL": upstream.url + "/", "ARTPROXY_IMAGE_DIR": str(image_dir),
           "ARTPROXY_STATE_DIR": str(image_dir / ".state"),
           # hey sends one URL over and over; merged identical calls would measure a shortcut
           # real traffic of different prompts never takes, so every request calls upstream.
           "ARTPROXY_MERGE_IDENTICAL_CALLS": "false"}
    env.update({f"ARTPROXY_{name}": value for name, value in settings.items()})
    return Server("artproxy", setup.command(), port, env=env)


def start_seed(upstream: Server) -> Server:
    port = free_port()
    return Server("seed", python_command("bench/seed_baseline.py", "--port", str(port),
                                         "--upstream", upstream.url + "/"), port)


def generate_url(server: Server) -> str:
    return server.url + "/generate?p=a+lighthouse+at+dusk"


def throughput(photo: Path, setup: ServerSetup = PRODUCTION, with_seed: bool = True) -> list[Row]:
    """Target 1: /generate with a 1024x1024 JPEG upstream, PNG out, as fast as it goes."""
    concurrency = 4 * CORES
    with start_upstream(photo) as upstream, tempfile.TemporaryDirectory() as image_dir:
        seed_rate = None
        if with_seed:
            with start_seed(upstream) as seed:
                hey(generate_url(seed), concurrency, concurrency)  # warm-up
                seed_rate = hey(generate_url(seed), 12 * concurrency, concurrency).rate
        with start_artproxy(setup, upstream, Path(image_dir)) as artproxy:
            hey(generate_url(artproxy), concurrency, concurrency)
            ours = hey(generate_url(artproxy), 60 * concurrency, concurrency)
            direct_one = hey(upstream.url + "/", 60, 1, method="POST", body=FORM,
                             content_type=FORM_TYPE)
            ours_one = hey(generate_url(artproxy), 60, 1)
            hey(generate_url(artproxy) + OPTION_PATH, concurrency, concurrency)
            with_options = hey(generate_url(artproxy) + OPTION_PATH, 30 * concurrency, concurrency)
    rows = [Row("1", f"/generate req/s, 1024x1024 JPEG -> PNG, {concurrency} clients",
                f"{ours.rate:.1f}", f"seed {seed_rate:.1f}" if seed_rate else "-",
                f"{ours.rate / seed_rate:.1f}x" if seed_rate else "-", ">= 10x",
                ours.rate >= 10 * seed_rate if seed_rate else None)]
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        added = ours_one.percentile(fraction) - direct_one.percentile(fraction)
        rows.append(Row("1", f"added latency {label}, one client (ms)",
                        f"{ours_one.percentile(fraction) * 1000:.1f}",
                        f"direct {direct_one.percentile(fraction) * 1000:.1f}",
                        f"+{added * 1000:.1f} ms", "report", None))
    rows.append(Row("1o", f"/generate{OPTION_PATH} req/s (crop, resize, WebP)",
                    f"{with_options.rate:.1f}", f"no options {ours.rate:.1f}",
                    f"{with_options.rate / ours.rate:.0%}", "report", None))
    _require_all_ok(ours, "artproxy /generate")
    _require_all_ok(with_options, "artproxy /generate with options")
    return rows


def slow_upstream(small_photo: Path, setup: ServerSetup = PRODUCTION, clients: int = 1000,
                  with_seed: bool = True) -> list[Row]:
    """Target 2: a thousand clients at once, each waiting 2 s on the upstream."""
    with start_upstream(small_photo, delay=2.0) as upstream, \
            tempfile.TemporaryDirectory() as image_dir:
        direct = hey(upstream.url + "/", clients, clients, method="POST", body=FORM,
                     content_type=FORM_TYPE)
        with start_artproxy(setup, upstream, Path(image_dir)) as artproxy:
            peak = [0]

            def sample_rss() -> None:
                peak[0] = max(peak[0], rss_bytes(process_tree(artproxy.process.pid)))

            pids = process_tree(artproxy.process.pid)
            cpu_before = cpu_seconds(pids)
            ours = hey(generate_url(artproxy), clients, clients, while_running=sample_rss)
            cpu_per_request = (cpu_seconds(pids) - cpu_before) / clients
        seed = None
        if with_seed:
            with start_seed(upstream) as seed_server:
                seed = hey(generate_url(seed_server), clients, clients)
    ratio = ours.seconds / direct.seconds
    rows = [
        Row("2", f"{clients} clients, 2 s upstream: batch seconds", f"{ours.seconds:.2f}",
            f"direct {direct.seconds:.2f}", f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2),
        Row("2", "answers 200", f"{ours.ok}/{clients}", f"direct {direct.ok}/{clients}", "-",
            "all", ours.ok == clients),
        Row("2", "peak RSS, all processes (MB)", f"{peak[0] / 2**20:.0f}", "-", "-", "< 400",
            peak[0] < 400 * 2**20),
        # The batch cannot end before the upstream's wait plus the CPU all requests need,
        # spread over the cores: this row says how close to that floor the server runs.
        Row("2", "server CPU per request (ms); floor = direct + CPU / cores",
            f"{cpu_per_request * 1000:.2f}",
            f"floor {direct.seconds + clients * cpu_per_request / CORES:.2f} s", "-", "report",
            None),
    ]
    if seed is not None:
        rows.append(Row("2", "seed-style baseline, same batch: seconds (answers 200)",
                        f"{seed.seconds:.2f} ({seed.ok}/{clients})", f"direct {direct.seconds:.2f}",
                        f"{seed.seconds / direct.seconds:.2f}x", "report", None))
    return rows


def serving(big_png: Path, setup: ServerSetup = PRODUCTION, rounds: int = 3) -> list[Row]:
    """Target 3: a stored ~1 MB PNG from /images/<name>, against nginx serving the same file.

    Both servers run side by side and are loaded in turns, several rounds; the medians are
    compared, so a slow moment of the machine does not land on one side only.
    """
    with start_upstream(big_png) as upstream, tempfile.TemporaryDirectory() as image_dir, \
            start_artproxy(setup, upstream, Path(image_dir)) as artproxy:
        with urllib.request.urlopen(artproxy.url + "/image?p=bench", timeout=30) as answer:
            image_url = artproxy.url + json.load(answer)["url"]
        stored = next(Path(image_dir).glob("*.png"))
        size = stored.stat().st_size
        nginx_root = Path(tempfile.mkdtemp(prefix="bench-static-"))
        shutil.copy(stored, nginx_root / stored.name)
        with start_nginx(nginx_root, workers=CORES) as nginx:
            ours, theirs = medians_in_turns(image_url, f"{nginx.url}/{stored.name}", rounds)
        shutil.rmtree(nginx_root)
    ratio = ours / theirs
    return [Row("3", f"/images/<name> req/s, {size / 1e6:.2f} MB PNG (median of {rounds})",
                f"{ours:.0f}", f"nginx {theirs:.0f}", f"{ratio:.0%}", ">= 50%", ratio >= 0.5)]


def medians_in_turns(ours_url: str, theirs_url: str, rounds: int) -> tuple[float, float]:
    """The median wrk rates of two URLs, loaded in turns (theirs first), after a warm-up each:
    a slow moment of the machine does not land on one side only."""
    ours, theirs = [], []
    for url in (ours_url, theirs_url):
        wrk(url, seconds=2)
    for _ in range(rounds):
        theirs.append(wrk(theirs_url))
        ours.append(wrk(ours_url))
    return statistics.median(ours), statistics.median(theirs)


def prompt_cache_hits(picture: Path, setup: ServerSetup = PRODUCTION,
                      rounds: int = 3) -> list[Row]:
    """Target P: a prompt URL's cache hit against /images/<name> of the very file it serves.

    The first GET of the prompt URL draws and stores the picture; the stored file is then
    served both ways, in turns, several rounds, and the medians compared."""
    with start_upstream(picture) as upstream, tempfile.TemporaryDirectory() as image_dir, \
            start_artproxy(setup, upstream, Path(image_dir)) as artproxy:
        prompt_url = artproxy.url + "/prompt/a%20lighthouse%20at%20dusk"
        with urllib.request.urlopen(prompt_url, timeout=30) as answer:
            size = len(answer.read())
        stored = next(Path(image_dir).glob("*.png"))
        ours, theirs = medians_in_turns(prompt_url, f"{artproxy.url}/images/{stored.name}",
                                        rounds)
    ratio = ours / theirs
    return [Row("P", f"/prompt/... cache hit req/s, {size / 1e3:.0f} kB PNG "
                     f"(median of {rounds})", f"{ours:.0f}", f"/images/<name> {theirs:.0f}",
                f"{ratio:.0%}", ">= 80%", ratio >= 0.8)]


def free_upstreams(_: Path, setup: ServerSetup = PRODUCTION, jobs: int = 3) -> list[Row]:
    """Target F: the free upstreams, played by their protocol fakes (testing/): a job through
    AI Horde's queue against the Horde's own time, and Pollinations held to one call at a time
    (ARTPROXY_POLLINATIONS_CONCURRENCY=1) under 8 clients against its serial rate."""
    from testing.fake_horde import FakeHorde, Script
    from testing.fake_pollinations import FakePollinations

    checks = 3  # the Horde is checked once a second: done about 3 s after the submission
    with FakeHorde() as horde, tempfile.TemporaryDirectory() as image_dir, \
            start_artproxy(setup, horde, Path(image_dir), PROVIDER="horde",
                           HORDE_URL=horde.url) as artproxy:
        horde.script = Script(checks_before_done=checks)
        seconds = [job_seconds(artproxy.url, {"prompt": f"a red fox {number}"})
                   for number in range(jobs)]
    delay = 0.2
    with FakePollinations(delay=delay) as pollinations, \
            tempfile.TemporaryDirectory() as image_dir, \
            start_artproxy(setup, pollinations, Path(image_dir), PROVIDER="pollinations",
                           POLLINATIONS_URL=pollinations.base(),
                           POLLINATIONS_CONCURRENCY="1") as artproxy:
        batch = hey(artproxy.url + "/generate?p=a+red+fox&size=256x256", 40, 8)
    job = statistics.median(seconds)
    return [
        Row("F", f"horde: one job, POST to done (median of {jobs})", f"{job:.2f} s",
            f"Horde {checks:.2f} s", f"+{job - checks:.2f} s", "report", None),
        Row("F", "pollinations, concurrency 1, 8 clients: req/s (answers 200)",
            f"{batch.rate:.2f} ({batch.ok}/40)", f"serial {1 / delay:.2f}",
            f"{batch.rate * delay:.0%}", "all 200", batch.ok == 40
            and pollinations.refused_busy == 0),
    ]


def job_seconds(base_url: str, fields: dict) -> float:
    """Seconds from POST /jobs to the job being done, followed with ?wait."""
    started = time.monotonic()
    request = urllib.request.Request(base_url + "/jobs", data=json.dumps(fields).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        job = json.load(answer)
    while job["status"] in ("queued", "running"):
        url = f"{base_url}{job['status_url']}?wait=10&after={job['status']}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            job = json.load(answer)
    if job["status"] != "done":
        raise RuntimeError(f"a job failed: {job['error']}")
    return time.monotonic() - started


def expiry(tiny_png: Path, setup: ServerSetup = PRODUCTION, images: int = 10_000,
           ttl_seconds: int = 30) -> list[Row]:
    """Target 4: with 10,000 live images, every file goes within 2 s of its deadline."""
    with start_upstream(tiny_png) as upstream, tempfile.TemporaryDirectory() as folder:
        image_dir = Path(folder)
        watcher = FolderWatcher(image_dir)
        watcher.start()
        with start_artproxy(setup, upstream, image_dir, IMAGE_TTL=str(ttl_seconds)) as artproxy:
            made = hey(artproxy.url + "/image?p=tiny", images, 50)
            live = len(watcher.current)
            # CPU spent while idle with all images live: that is the sweepers' cost.
            pids = process_tree(artproxy.process.pid)
            before = cpu_seconds(pids)
            time.sleep(5)
            idle_cpu_per_second = (cpu_seconds(pids) - before) / 5
            watcher.wait_until_empty(timeout=ttl_seconds + 10)
        watcher.stop()
        sweep_cpu = sweep_cost(images)
    lateness = watcher.lateness()
    late_max = max(lateness) if lateness else float("inf")
    gone_all = len(lateness) == made.ok == images
    return [
        Row("4", f"{images} images via /image: live at once", f"{live}",
            f"{made.rate:.0f} /image per s", "-", f"{images}", live == images),
        Row("4", "latest deletion after deadline (s)", f"{late_max:.2f}",
            f"deleted {len(lateness)}/{images}", "-", "<= 2", gone_all and late_max <= 2),
        Row("4", "one sweep over 10k live files, CPU ms", f"{sweep_cpu * 1000:.0f}",
            f"server idle CPU {idle_cpu_per_second * 1000:.0f} ms/s", "-", "report", None),
    ]


def storage_compare(big_png: Path, setup: ServerSetup = PRODUCTION,
                    rounds: int = 3) -> list[Row]:
    """Redis storage against the local folder: storing and serving a ~1 MB PNG.

    Both instances run side by side; serving is loaded in turns, several rounds, and the
    medians compared, as target 3 does: one wrk run each, one after the other, gave 62% to
    89% in runs of the same code.
    """
    stores: dict[str, float] = {}
    image_urls: dict[str, str] = {}
    with start_upstream(big_png) as upstream, start_redis() as redis_server, \
            tempfile.TemporaryDirectory() as file_dir, tempfile.TemporaryDirectory() as redis_dir, \
            contextlib.ExitStack() as servers:
        for storage, image_dir in (("file", file_dir), ("redis", redis_dir)):
            artproxy = servers.enter_context(start_artproxy(
                setup, upstream, Path(image_dir), STORAGE=storage,
                REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0"))
            batch = hey(artproxy.url + "/image?p=bench", 40 * CORES * 4, CORES * 4)
            _require_all_ok(batch, f"/image with {storage} storage")
            stores[storage] = batch.rate
            with urllib.request.urlopen(artproxy.url + "/image?p=bench", timeout=30) as answer:
                image_urls[storage] = artproxy.url + json.load(answer)["url"]
        redis_serves, file_serves = medians_in_turns(image_urls["redis"], image_urls["file"],
                                                     rounds)
    size = big_png.stat().st_size / 1e6
    return [
        Row("R", f"/image req/s, {size:.2f} MB PNG stored, Redis", f"{stores['redis']:.0f}",
            f"folder {stores['file']:.0f}", f"{stores['redis'] / stores['file']:.0%}", "report",
            None),
        Row("R", f"/images/<name> req/s, {size:.2f} MB PNG, Redis (median of {rounds})",
            f"{redis_serves:.0f}", f"folder {file_serves:.0f}",
            f"{redis_serves / file_serves:.0%}", ">= 80%", redis_serves / file_serves >= 0.8),
    ]


def jobs_compare(small_photo: Path, setup: ServerSetup = PRODUCTION) -> list[Row]:
    """Target J: images made through POST /jobs and polled with ?wait, against GET /image with
    the same clients and an upstream that takes 50 ms, with file storage (the server's runners)
    and with Redis (RQ and one `python main.py worker`)."""
    clients = 4 * CORES
    count = 25 * clients
    rows = []
    with start_upstream(small_photo, delay=0.05) as upstream, start_redis() as redis_server, \
            tempfile.TemporaryDirectory() as image_dir:
        settings = {"JOB_CONCURRENCY": str(clients), "MAX_QUEUED_JOBS": str(count)}
        for storage in ("file", "redis"):
            settings.update(STORAGE=storage, REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0")
            with start_artproxy(setup, upstream, Path(image_dir), **settings) as artproxy, \
                    start_job_worker(upstream, Path(image_dir), storage, **settings):
                hey(artproxy.url + "/image?p=bench", clients, clients)
                images = hey(artproxy.url + "/image?p=bench", count, clients)
                _require_all_ok(images, f"/image with {storage} storage")
                run_jobs(artproxy.url, clients, clients)  # warm-up
                jobs_rate = run_jobs(artproxy.url, count, clients)
                one_job = run_jobs(artproxy.url, 30, 1)
                one_image = hey(artproxy.url + "/image?p=bench", 30, 1)
            runner = "server's runners" if storage == "file" else "RQ, 1 worker"
            rows.append(Row("J", f"images/s through jobs, {storage} storage ({runner}), "
                                 f"{clients} clients", f"{jobs_rate[0]:.0f}",
                            f"/image {images.rate:.0f}", f"{jobs_rate[0] / images.rate:.0%}",
                            "report", None))
            rows.append(Row("J", f"one job, POST to done, p50 (ms), {storage} storage",
                            f"{one_job[1] * 1000:.0f}",
                            f"/image {one_image.percentile(0.5) * 1000:.0f}",
                            f"+{(one_job[1] - one_image.percentile(0.5)) * 1000:.0f} ms",
                            "report", None))
    return rows


def start_job_worker(upstream: Server, image_dir: Path, storage: str, **settings: str) -> Server:
    """`python main.py worker` with Redis; with file storage the server runs its jobs itself."""
    env = {"ARTPROXY_PROVIDER": "magicstudio", "ARTPROXY_MAGICSTUDIO_URL": upstream.url + "/",
           "ARTPROXY_IMAGE_DIR": str(image_dir), "ARTPROXY_STATE_DIR": str(image_dir / ".state"),
           **{f"ARTPROXY_{name}": value for name, value in settings.items()}}
    command = python_command("main.py", "worker") if storage == "redis" else python_command(
        "-c", "import time; time.sleep(1e6)")
    return Server("job-worker", command, None, env=env)


def run_jobs(base_url: str, count: int, clients: int) -> tuple[float, float]:
    """(jobs done per second, median seconds from POST to done) for ``count`` jobs, each client
    creating one and polling it with ?wait until done, then the next."""
    from concurrent.futures import ThreadPoolExecutor

    def one(number: int) -> float:
        started = time.monotonic()
        request = urllib.request.Request(base_url + "/jobs", method="POST",
                                         data=json.dumps({"prompt": f"bench {number}"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            status_url = base_url + json.load(answer)["status_url"]
        while True:
            with urllib.request.urlopen(status_url + "?wait=30", timeout=60) as answer:
                status = json.load(answer)["status"]
            if status == "done":
                return time.monotonic() - started
            if status == "failed":
                raise RuntimeError(f"a benchmark job failed: {status_url}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        durations = list(pool.map(one, range(count)))
    return count / (time.monotonic() - started), statistics.median(durations)


def start_redis() -> RedisServer:
    return RedisServer(Path(tempfile.gettempdir()))


class FolderWatcher:
    """Notes, every 50 ms, which image files exist, and when each one was first seen gone."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.current: set[str] = set()
        self.gone_at: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            now = time.time()
            names = {entry.name for entry in os.scandir(self.folder) if parse_name(entry.name)}
            for name in self.current - names:
                self.gone_at[name] = now
            self.current = names
            self._stopping.wait(0.05)

    def wait_until_empty(self, timeout: float) -> None:
        give_up = time.monotonic() + timeout
        while (self.current or not self.gone_at) and time.monotonic() < give_up:
            time.sleep(0.2)

    def lateness(self) -> list[float]:
        return [gone - expires_at(name) for name, gone in self.gone_at.items()]


def expires_at(name: str) -> float:
    parsed = parse_name(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not an image name artproxy makes")
    return parsed.expires_at


def sweep_cost(images: int) -> float:
    """CPU seconds one sweep takes over ``images`` live files (nothing to delete)."""
    with tempfile.TemporaryDirectory() as folder:
        deadline_ms = int((time.time() + 3600) * 1000)
        for number in range(images):
            (Path(folder) / f"{deadline_ms}-{number:032x}.png").touch()
        started = time.process_time()
        FileImageStore(folder).purge_expired(time.time())
        return time.process_time() - started


def _require_all_ok(batch: Batch, what: str) -> None:
    if batch.ok != len(batch.statuses):
        raise RuntimeError(f"{what}: {len(batch.statuses) - batch.ok} answers were not 200")
