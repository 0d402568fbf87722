"""A real `qa serve` process on a free 127.0.0.1 port, for the socket, load and browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

START_TIMEOUT_S = 120  # model load ≈ 5 s; generous for a busy 2-core CI machine


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(index: Path | None, workdir: Path, *, collections: str | None = None, **env_extra: str
          ) -> Iterator[LiveServer]:
    """`qa serve --index INDEX` (or `--collections SPEC`) with only the QA_* settings given here; ready
    (/readyz 200) on entry, terminated on exit. Runs in `workdir`, so no stray `.env` from the repository applies."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {"QA_CACHE_DIR": str(workdir / "cache"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(ROOT), "QA_READER": "off"} | env_extra
    log = workdir / "serve.log"
    source = ["--collections", collections] if collections is not None else ["--index", str(index)]
    cmd = [sys.executable, "-c", "from qa.cli import main; main()", "serve", *source,
           "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    live = LiveServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"qa serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(live.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"qa serve not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield live
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
