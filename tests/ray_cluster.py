"""A real two-node Ray cluster on 127.0.0.1 for tests and bench/: a head and one worker node, each its own
`ray start --block` process group, in a private temp dir on non-default ports, torn down by process group
(never `ray stop`, which would stop every Ray cluster of this user on the machine)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port(lo: int = 20000, hi: int = 40000) -> int:
    for _ in range(200):
        port = random.randint(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class RayCluster:
    """A running cluster: its address and the node processes (head first)."""

    address: str
    temp_dir: Path
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cpus: float = 1.0

    def env(self) -> dict[str, str]:
        return os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                             "RAY_USAGE_STATS_ENABLED": "0", "QA_THREADS": str(int(self.cpus)),
                             "RAY_DEDUP_LOGS": "0"}

    def _start(self, args: list[str], log: str, cpus: float | None = None) -> subprocess.Popen[bytes]:
        out = open(self.temp_dir / log, "wb")  # noqa: SIM115 (kept open for the node's life)
        cpus = self.cpus if cpus is None else cpus
        proc = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", f"--num-cpus={cpus:g}",
                                 "--num-gpus=0", f"--object-store-memory={150 * 2**20}", *args],
                                env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(proc)
        return proc

    def add_worker(self, timeout: float = 90.0) -> subprocess.Popen[bytes]:
        """One more worker node; returns once the cluster sees it alive."""
        want = self.alive() + 1
        proc = self._start([f"--address={self.address}", "--node-ip-address=127.0.0.1",
                            f"--dashboard-agent-listen-port={_free_port()}",
                            f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}"],
                           f"worker{len(self.nodes)}.log")
        self._wait(want, timeout)
        return proc

    def alive(self) -> int:
        """Alive nodes, as `ray status` counts them (-1 while the cluster cannot answer)."""
        run = subprocess.run([RAY, "status", f"--address={self.address}"], env=self.env(), capture_output=True,
                             check=False, text=True, timeout=60)
        if run.returncode != 0 or "Active:" not in run.stdout:
            return -1
        active = run.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
        return sum(1 for line in active.splitlines() if line.strip().startswith("1 node_"))

    def _wait(self, nodes: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self.nodes):
                raise RuntimeError(f"a Ray node exited; see {self.temp_dir}/*.log")
            if self.alive() >= nodes:
                return
            time.sleep(1.0)
        raise RuntimeError(f"Ray cluster did not reach {nodes} nodes in {timeout:.0f} s; see {self.temp_dir}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a node's whole process group (its raylet and the workers it started)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop(self) -> None:
        """Every node's process group killed (a graceful `ray start --block` drains for 30 s; a test has no
        work left on the cluster when it stops it), and the temp dir removed."""
        for proc in reversed(self.nodes):
            self.kill(proc)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@contextmanager
def ray_cluster(workers: int = 1, cpus: float = 1.0, head_cpus: float | None = None) -> Iterator[RayCluster]:
    """A head + `workers` worker nodes on 127.0.0.1, each with `cpus` CPUs (the head `head_cpus`, if given: 0
    keeps all work on the workers); stopped on exit."""
    temp_dir = Path(tempfile.mkdtemp(prefix="qray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = _free_port()
    cluster = RayCluster(f"127.0.0.1:{port}", temp_dir, cpus=cpus)
    try:
        cluster._start(["--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--temp-dir={temp_dir}",
                        "--include-dashboard=false", f"--ray-client-server-port={_free_port()}",
                        f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}",
                        f"--runtime-env-agent-port={_free_port()}"], "head.log", head_cpus)
        cluster._wait(1, 90.0)
        for _ in range(workers):
            cluster.add_worker()
        yield cluster
    finally:
        cluster.stop()
