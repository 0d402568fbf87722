"""Shared fixtures: the real model (loaded once), a real index of seeds/ built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the suite tests retrieval without the reader (faster, and exact fused ranks); tests/test_reader.py turns it on
os.environ.setdefault("QA_READER", "off")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
FRONTLINES = CORPUS / "frontlines"
NEWS = CORPUS / "frontlines-news"
SEED_ARTICLE = "liberation_of_kherson"
QA_TRAIN = SHARED / "qa-train"


def seeded_index(folder: Path, name: str, settings_factory, embedder, **settings: object):  # type: ignore[no-untyped-def]
    """A writable copy of seeds/ at folder/seeds and a real index built from it at folder/index/<name>.

    Returns (seeds, index_dir, settings) for tests that edit articles, rebuild or serve their own index."""
    import shutil

    from qa.build import build

    seeds = folder / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = folder / "index" / name
    s = settings_factory(index=index_dir, **settings)
    build(s, seeds, index_dir, embedder=embedder)
    return seeds, index_dir, s


def need_corpus() -> None:
    if not FRONTLINES.is_dir():
        pytest.fail(f"{FRONTLINES} is missing: the shared corpus must sit beside the repository")


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Settings with caches in a temp folder; keyword arguments override fields."""
    from qa.settings import Settings

    cache = tmp_path_factory.mktemp("cache")

    def make(**kw: object) -> Settings:
        base: dict[str, object] = {"seeds": SEEDS, "index": cache / "unused", "cache_dir": cache, "reader": "off"}
        return Settings(**(base | kw))  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    from qa.embed.embedder import Embedder

    e = Embedder()
    e.model  # noqa: B018  (load now, once)
    return e


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """A real index (FAISS + BM25) of seeds/, built once."""
    from qa.build import build

    index_dir = tmp_path_factory.mktemp("idx") / "seed"
    build(settings_factory(index=index_dir), SEEDS, index_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def milvus_seed_index(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """The same index of seeds/ with its vectors and BM25 in an embedded Milvus Lite database."""
    from qa.build import build

    folder = tmp_path_factory.mktemp("milvus")
    index_dir = folder / "seed"
    settings = settings_factory(index=index_dir, store="milvus", milvus_uri=str(folder / "milvus.db"))
    build(settings, SEEDS, index_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def store_index(request: pytest.FixtureRequest) -> Path:
    """The seeds/ index in each vector store: tests that take it run once per store."""
    return request.getfixturevalue("seed_index" if request.param == "faiss" else "milvus_seed_index")


@pytest.fixture(scope="session")
def retriever(store_index: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    """A Retriever over the seeds/ index, once per vector store (FAISS, Milvus Lite)."""
    from qa.search.retriever import Retriever

    r = Retriever.load(store_index, settings_factory(index=store_index), embedder=embedder)
    yield r
    r.close()


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The first SQuAD paragraphs of 12 articles and 40 NQ examples, in the shared folder's layout."""
    import json

    if not QA_TRAIN.is_dir():
        pytest.fail(f"{QA_TRAIN} is missing: the shared training data must sit beside the repository")
    root = tmp_path_factory.mktemp("qa-train")
    (root / "squad-1.1-train").mkdir()
    (root / "nq-qed-train").mkdir()
    kept: list[str] = []
    per_title: dict[str, int] = {}
    with open(QA_TRAIN / "squad-1.1-train" / "paragraphs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            title = json.loads(line)["title"]
            if per_title.get(title, 0) < 3 and (title in per_title or len(per_title) < 12):
                per_title[title] = per_title.get(title, 0) + 1
                kept.append(line)
            if len(per_title) == 12 and all(n == 3 for n in per_title.values()):
                break
    (root / "squad-1.1-train" / "paragraphs.jsonl").write_text("".join(kept), encoding="utf-8")
    with open(QA_TRAIN / "nq-qed-train" / "nq-train-00-qed.jsonlines", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(40)]
    (root / "nq-qed-train" / "nq-train-00-qed.jsonlines").write_text("".join(lines), encoding="utf-8")
    return root
