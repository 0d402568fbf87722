"""`qa build --ray` against a real two-node Ray cluster on 127.0.0.1 (tests/ray_cluster.py) into Milvus Lite:
the same index as a local build, incremental through the cluster, and a worker lost mid-build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FRONTLINES, ROOT, SEEDS, need_corpus

QUESTIONS = [
    "How many soldiers did Russia say it withdrew across the Dnipro?",
    "What happened to the Antonivskyi Bridge?",
    "Who commanded the defence of Chuhuiv air base?",
    "When was the Desna barracks struck by missiles?",
    "What did the Russian Ministry of Defence claim about casualties?",
]
EDITED, DELETED = "desna_barracks_airstrike.md", "chuhuiv_air_base_attack.md"
MEMORIAL = "\n\n## Memorial\n\nA granite memorial to the eighty-seven cadets killed at Desna was unveiled in 2023.\n"


def test_without_ray_nothing_imports_ray(tmp_path: Path) -> None:
    """`import qa.cli` and a local `qa build` never import Ray (it is an optional extra)."""
    code = (
        "import sys\n"
        "import qa.cli, qa.build, qa.build.pipeline, qa.search.retriever\n"
        "assert 'ray' not in sys.modules, 'imported ray'\n"
        "from click.testing import CliRunner\n"
        f"r = CliRunner().invoke(qa.cli.main, ['build', '--seeds', {str(SEEDS)!r}, '--index', "
        f"{str(tmp_path / 'i')!r}, '-q'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'ray' not in sys.modules and 'ray.data' not in sys.modules, 'qa build imported ray'\n"
        "print('ok')\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT), "QA_CACHE_DIR": str(tmp_path / "cache"), "QA_READER": "off"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         check=False, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


# -- against a real cluster (slow) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from tests.ray_cluster import ray_cluster

    with ray_cluster(workers=1, cpus=1) as c:
        yield c


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seeds/ + frontlines in one writable folder: QA_RAY_TEST_ARTICLES of frontlines' articles (default 20, in
    file order, plus the two the incremental test edits; 0 = all 191 — ~4,300 passages, two builds of them)."""
    need_corpus()
    seeds = tmp_path_factory.mktemp("corpus") / "seeds"
    seeds.mkdir()
    wanted = int(os.environ.get("QA_RAY_TEST_ARTICLES", "20"))
    files = sorted(FRONTLINES.glob("*.md"))
    for path in (files[:wanted] if wanted else files) + [FRONTLINES / EDITED, FRONTLINES / DELETED]:
        shutil.copy(path, seeds / path.name)
    shutil.copy(SEEDS / "liberation_of_kherson.md", seeds / "liberation_of_kherson.md")
    return seeds


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, corpus: Path, cluster, settings_factory, embedder):  # type: ignore[no-untyped-def]
    """The same corpus built locally and through the cluster, both into Milvus Lite: (local, ray, settings)."""
    from qa.build import build
    from qa.build.ray_engine import RayEngine, RayOptions

    folder = tmp_path_factory.mktemp("ray")
    uri = str(folder / "milvus.db")
    local_dir, ray_dir = folder / "index" / "local", folder / "index" / "ray"
    local = settings_factory(seeds=corpus, index=local_dir, store="milvus", milvus_uri=uri)
    on_ray = settings_factory(seeds=corpus, index=ray_dir, store="milvus", milvus_uri=uri)
    build(local, corpus, local_dir, embedder=embedder)
    with RayEngine(on_ray, RayOptions(cluster.address)) as engine:
        assert engine.nodes == 2 and engine.workers == 2
        report = build(on_ray, corpus, ray_dir, engine=engine)
    assert report.embedded == report.chunks > 300 and not report.problems
    return local_dir, ray_dir, on_ray


def _same_index(a: Path, b: Path) -> None:
    """Same passages and records (chunks, articles, raw regions), vectors at cosine ≥ 0.9999, same manifest keys."""
    from qa.index import folder as ix

    fa, fb = ix.resolve(a), ix.resolve(b)
    ca, cb = ix.read_chunks(fa), ix.read_chunks(fb)
    assert [c.id for c in ca] == [c.id for c in cb]
    assert [c.to_dict() for c in ca] == [c.to_dict() for c in cb]
    assert [x.to_dict() for x in ix.read_articles(fa)] == [x.to_dict() for x in ix.read_articles(fb)]
    assert ix.read_regions(fa, ca) == ix.read_regions(fb, cb) is not None
    va, vb = np.load(fa / ix.VECTORS), np.load(fb / ix.VECTORS)
    assert va.shape == vb.shape and float((va * vb).sum(1).min()) >= 0.9999
    sa, sb = ix.read_sentences(fa, len(ca)), ix.read_sentences(fb, len(cb))
    assert sa is not None and sb is not None and np.array_equal(sa.offsets, sb.offsets)
    assert float((sa.vectors * sb.vectors).sum(1).min()) >= 0.999
    ma, mb = ix.read_manifest(fa), ix.read_manifest(fb)
    for key in ("model", "chunker", "lexical", "corpus_hash", "articles", "counts", "retrieval"):
        assert getattr(ma, key) == getattr(mb, key), key
    assert ma.store["kind"] == mb.store["kind"] == "milvus" and ma.store["collection"] != mb.store["collection"]


def _same_hits(a: Path, b: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    ra = Retriever.load(a, settings_factory(index=a), embedder=embedder)
    rb = Retriever.load(b, settings_factory(index=b), embedder=embedder)
    try:
        for q in QUESTIONS:
            for mode in ("hybrid", "dense", "lexical"):
                ha, hb = ra.search(q, k=5, mode=mode).hits, rb.search(q, k=5, mode=mode).hits
                assert ha[0].chunk.id == hb[0].chunk.id and len(ha) == len(hb) == 5, (q, mode)
                # the same top 5, except two passages tied to within the vectors' 1e-4 may trade places
                for x, y in zip(ha, hb, strict=True):
                    assert x.chunk.id == y.chunk.id or abs(x.score - y.score) < 1e-4, (q, mode, x.score, y.score)
    finally:
        ra.close()
        rb.close()


@pytest.mark.slow
def test_a_ray_build_equals_a_local_build(built, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    local_dir, ray_dir, _ = built
    _same_index(local_dir, ray_dir)
    _same_hits(local_dir, ray_dir, settings_factory, embedder)


@pytest.mark.slow
def test_the_cli_builds_through_the_cluster(tmp_path: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    env = os.environ | {"PYTHONPATH": str(ROOT), "QA_STORE": "milvus", "QA_MILVUS_URI": str(tmp_path / "m.db"),
                        "QA_CACHE_DIR": str(tmp_path / "cache"), "QA_READER": "off"}
    qa = str(Path(sys.executable).with_name("qa"))
    run = subprocess.run([qa, "build", "--ray", cluster.address, "--seeds", str(SEEDS), "--index",
                          str(tmp_path / "i"), "-q"], env=env, capture_output=True, text=True, timeout=600,
                         check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "built" in run.stdout and "embedded 18 passages" in run.stdout, run.stdout
    bad = subprocess.run([qa, "build", "--ray", "127.0.0.1:1", "--seeds", str(SEEDS), "--index",
                          str(tmp_path / "j"), "-q"], env=env, capture_output=True, text=True, timeout=300,
                         check=False, cwd=tmp_path)
    assert bad.returncode == 1 and "cannot reach the Ray cluster" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_an_incremental_ray_build_embeds_only_what_changed(built, corpus, cluster, settings_factory, embedder):  # type: ignore[no-untyped-def]
    from qa.build import build
    from qa.build.ray_engine import RayEngine, RayOptions
    from qa.index import folder as ix

    local_dir, ray_dir, on_ray = built
    before = {c.id: c for c in ix.read_chunks(ix.resolve(ray_dir))}
    edited_id, deleted_id = EDITED.removesuffix(".md"), DELETED.removesuffix(".md")
    with open(corpus / EDITED, "a", encoding="utf-8") as f:
        f.write(MEMORIAL)
    (corpus / DELETED).unlink()
    with RayEngine(on_ray, RayOptions(cluster.address)) as engine:
        report = build(on_ray, corpus, ray_dir, engine=engine)
    after = ix.read_chunks(ix.resolve(ray_dir))
    new_texts = [c for c in after if c.id not in before or before[c.id].embed_text != c.embed_text]
    assert report.changed == [edited_id] and report.removed == [deleted_id] and not report.added
    assert 0 < report.embedded == len(new_texts) <= sum(1 for c in after if c.article_id == edited_id)
    assert {c.article_id for c in new_texts} == {edited_id}
    assert not any(c.article_id == deleted_id for c in after)
    store = ix.read_manifest(ix.resolve(ray_dir)).store
    assert store["collection"].endswith("_1")  # blue/green: the collection not being served
    # the local build of the same edit agrees
    local = settings_factory(seeds=corpus, index=local_dir, store="milvus", milvus_uri=on_ray.milvus_uri)
    assert build(local, corpus, local_dir, embedder=embedder).embedded == report.embedded
    _same_index(local_dir, ray_dir)
    _same_hits(local_dir, ray_dir, settings_factory, embedder)


@pytest.mark.slow
def test_a_worker_killed_mid_build_fails_it_and_the_served_index_stays(tmp_path: Path, settings_factory,  # type: ignore[no-untyped-def]
                                                                         embedder) -> None:
    """A cluster whose head has no CPU: the one embedding actor lives on the worker node, which is SIGKILLed
    (its whole process group) once the first vectors are back."""
    from qa.build import Reporter, build
    from qa.build.ray_engine import RayBuildError, RayEngine, RayOptions
    from qa.index import folder as ix
    from qa.index.stores.milvus_store import connect
    from qa.search.retriever import Retriever
    from tests.ray_cluster import ray_cluster

    need_corpus()
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index" / "k"
    seeds.mkdir()
    files = sorted(FRONTLINES.glob("*.md"))
    for path in files[:6]:
        shutil.copy(path, seeds / path.name)
    settings = settings_factory(seeds=seeds, index=index_dir, store="milvus", milvus_uri=str(tmp_path / "m.db"))
    build(settings, seeds, index_dir, embedder=embedder)  # the served index, built locally
    served = ix.resolve(index_dir)
    manifest = ix.read_manifest(served)
    retriever = Retriever.load(index_dir, settings_factory(index=index_dir), embedder=embedder)
    expected = [[h.chunk.id for h in retriever.search(q, k=5).hits] for q in QUESTIONS]
    for path in files[6:12]:  # new text to embed
        shutil.copy(path, seeds / path.name)
    killed: list[tuple[int, int]] = []
    with ray_cluster(workers=1, cpus=1, head_cpus=0) as cluster:
        victim = cluster.nodes[1]

        class KillDuringEmbedding(Reporter):
            name = ""

            def stage(self, name: str, total: int | None = None) -> None:
                self.name = name

            def advance(self, done: int, total: int, seconds: float) -> None:
                if self.name == "embed" and not killed:
                    killed.append((done, total))
                    cluster.kill(victim)

        try:
            with RayEngine(settings, RayOptions(cluster.address)) as engine, pytest.raises(RayBuildError) as err:
                build(settings, seeds, index_dir, reporter=KillDuringEmbedding(), engine=engine)
            assert killed and killed[0][0] < killed[0][1]  # killed mid-embedding
            message = err.value.message
            assert "stage 'embed'" in message and "served index is unchanged" in message
            assert err.value.status == 503 and err.value.code == "ray_build_failed"
            # the served index: same version folder, manifest, collection and answers; nothing half-written
            assert ix.resolve(index_dir) == served and ix.read_manifest(served).id == manifest.id
            assert not [p for p in index_dir.parent.iterdir() if p.name.endswith(".tmp")]
            client = connect(settings.milvus_uri)
            try:
                rows = client.query(manifest.store["collection"], filter="", output_fields=["count(*)"])
                assert int(rows[0]["count(*)"]) == manifest.counts["chunks"]
            finally:
                client.close()
            assert [[h.chunk.id for h in retriever.search(q, k=5).hits] for q in QUESTIONS] == expected
        finally:
            retriever.close()
