"""Builds that die, race or run beside a server never damage the index that is being served.

A real `qa build` process is killed with SIGKILL while it embeds; a second `qa build` of the same index
started meanwhile is refused by the lock; readers load and search the index while builds publish.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.build import build
from qa.index import folder as ix
from qa.search.retriever import Retriever
from tests.conftest import FRONTLINES, ROOT, need_corpus, seeded_index

QUESTIONS = [
    "How many soldiers did Russia say it withdrew across the Dnipro?",
    "When was Kherson liberated?",
    "Which bridge was damaged?",
    "artillery shelling of the port",
]
START_TIMEOUT_S = 180


def smallest_frontlines(n: int, skip: int = 0) -> list[Path]:
    need_corpus()
    files = sorted(FRONTLINES.glob("*.md"), key=lambda p: (p.stat().st_size, p.name))
    return files[skip : skip + n]


def answers(r: Retriever) -> list[list[tuple[str, float]]]:
    return [[(h.chunk.id, round(h.score, 6)) for h in r.search(q, k=5).hits] for q in QUESTIONS]


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of the version the link names, byte for byte."""
    folder = ix.resolve(index_dir)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def build_cmd(seeds: Path, index_dir: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("qa")), "build", "--seeds", str(seeds), "--index", str(index_dir)]


def qa_build(seeds: Path, index_dir: Path, cache: Path) -> subprocess.Popen[str]:
    env = os.environ | {"QA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        build_cmd(seeds, index_dir),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Read the process's stderr until a line contains needle (fails if it ends or takes too long)."""
    assert proc.stderr is not None
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(START_TIMEOUT_S):
        proc.kill()
        pytest.fail(f"`qa build` never printed {needle!r}; stderr: {''.join(seen)[-2000:]}")
    return seen


@pytest.mark.slow
def test_build_killed_midway_leaves_the_old_index_serving_and_a_second_build_is_refused(
    tmp_path: Path,
    settings_factory,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    seeds, index_dir, settings = seeded_index(tmp_path, "kb", settings_factory, embedder)
    before_files = snapshot(index_dir)
    before_folder = ix.resolve(index_dir)
    before_answers = answers(Retriever.load(index_dir, settings, embedder=embedder))

    for f in smallest_frontlines(10):
        shutil.copy(f, seeds / f.name)
    first = qa_build(seeds, index_dir, tmp_path / "cache")
    wait_for_line(first, "embedding")  # the build holds the lock and is embedding
    first.send_signal(signal.SIGSTOP)  # frozen midway, so "midway" holds however fast this machine is

    second = subprocess.run(
        build_cmd(seeds, index_dir),
        cwd=ROOT,
        env=os.environ | {"QA_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    assert second.returncode == 1, second.stderr
    assert "another build of" in second.stderr and "is running" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout

    assert first.poll() is None
    first.send_signal(signal.SIGKILL)  # kill -9 (a stopped process dies of SIGKILL at once)
    assert first.wait(30) == -signal.SIGKILL

    # the old version is untouched, still named by the link, and answers exactly as before
    assert ix.resolve(index_dir) == before_folder and snapshot(index_dir) == before_files
    assert answers(Retriever.load(index_dir, settings, embedder=embedder)) == before_answers

    # a build's leftovers (here: a half-written version folder) are never served and get cleaned up
    leftover = index_dir.parent / ".kb.20000101T000000-1-000001.tmp"
    shutil.copytree(before_folder, leftover)
    (leftover / "chunks.jsonl").write_text("{half")
    report = build(settings, seeds, index_dir, embedder=embedder)  # the lock died with the killed build
    assert report.articles == 11 and report.added and not report.up_to_date
    r = Retriever.load(index_dir, settings, embedder=embedder)
    assert len(r.articles) == 11 and ix.resolve(index_dir) != before_folder
    assert not list(index_dir.parent.glob(".kb.*.tmp")), "an interrupted build's folder was left behind"
    assert not list(index_dir.parent.glob(".kb.link.*"))


@pytest.mark.slow
def test_readers_load_and_search_while_builds_publish(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    seeds, index_dir, settings = seeded_index(tmp_path, "cs", settings_factory, embedder)
    serving = Retriever.load(index_dir, settings, embedder=embedder)
    serving_answers = answers(serving)
    versions: dict[str, set[str]] = {serving.manifest.id: {c.id for c in serving.chunks}}

    stop = threading.Event()
    errors: list[BaseException] = []
    loaded: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                r = Retriever.load(index_dir, settings, embedder=embedder)  # follows the link once
                ids = {c.id for c in r.chunks}
                for q in QUESTIONS[:2]:
                    assert {h.chunk.id for h in r.search(q, k=5, mode="lexical").hits} <= ids
                loaded.append(r.manifest.id)
                assert answers(serving) == serving_answers  # the old in-memory index is unaffected
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i, files in enumerate(
            (smallest_frontlines(2), smallest_frontlines(2, skip=2), smallest_frontlines(2, skip=4))
        ):
            for old in seeds.glob("*.md"):
                if old.name != "liberation_of_kherson.md":
                    old.unlink()
            for f in files:
                shutil.copy(f, seeds / f.name)
            time.sleep(1.05)  # distinct index ids (they carry the build second)
            build(settings, seeds, index_dir, embedder=embedder)
            m = ix.read_manifest(ix.resolve(index_dir))
            versions[m.id] = {c.id for c in ix.read_chunks(ix.resolve(index_dir))}
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == [], errors[:3]
    assert len(loaded) >= 6 and set(loaded) <= set(versions) and len(set(loaded)) >= 2
    # three publishes later the first version's folder is gone (pruned), yet the server's copy still answers
    assert not serving.folder.exists()
    assert answers(serving) == serving_answers
