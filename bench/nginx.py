"""nginx serving one folder, as the anchor for how fast a static file can come off this machine."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench.processes import Server, free_port

CONFIG = """
worker_processes {workers};
daemon off;
pid {run_dir}/nginx.pid;
error_log {run_dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {run_dir}/access.log combined buffer=64k;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {run_dir}/body;
    proxy_temp_path {run_dir}/proxy;
    fastcgi_temp_path {run_dir}/fastcgi;
    uwsgi_temp_path {run_dir}/uwsgi;
    scgi_temp_path {run_dir}/scgi;
    types {{ image/png png; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def start_nginx(root: Path, workers: int) -> Server:
    """nginx with one worker per core (like artproxy's workers), sendfile on, access log kept."""
    # Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        raise RuntimeError("nginx is not installed: run bench/run, which installs it")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    # When started as root, nginx's workers run as nobody and must be able to read the files.
    for folder in (run_dir, root):
        os.chmod(folder, 0o755)
    port = free_port()
    config_file = run_dir / "nginx.conf"
    config_file.write_text(CONFIG.format(workers=workers, run_dir=run_dir, port=port, root=root))
    return Server("nginx", [nginx, "-c", str(config_file), "-p", str(run_dir)], port,
                  ready_path="/missing")
