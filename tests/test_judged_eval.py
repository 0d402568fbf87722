"""BEIR / TREC in and out: JSONL documents built and served, judgements read, measures as trec_eval computes
them (checked against pytrec_eval reading our files itself, and by hand), runs written and read back with odd
ids, paired tests, and tuning on a dev split — on a real index of SQuAD paragraphs (tests/beir_data.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.errors import InvalidRequest
from qa.evaluation.judgements import load_beir, load_qrels, load_queries
from qa.evaluation.measures import evaluate
from qa.evaluation.paired import compare_runs, randomization_p
from qa.evaluation.runs import decode_id, encode_id, read_run, write_qrels, write_run
from tests.beir_data import write_beir
from tests.conftest import ROOT

ODD_IDS = ["plain", "with/slash", "with space", "tab\there", "ünïcode/文書", "per%cent"]


@pytest.fixture(scope="module")
def beir(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder):  # type: ignore[no-untyped-def]
    """A 40-document BEIR folder (16 queries: 8 test, 8 dev) and a real index built from it."""
    from qa.build import build

    folder = tmp_path_factory.mktemp("beir")
    written = write_beir(folder / "data", docs=40, queries=16)
    index_dir = folder / "index"
    report = build(settings_factory(index=index_dir), written.folder, index_dir, embedder=embedder)
    assert report.articles == 40 and not report.problems
    return written, index_dir


# -- measures: trec_eval's conventions --------------------------------------------------------------------


def test_measures_by_hand_on_a_tiny_case() -> None:
    qrels = {"q1": {"a": 2, "b": 1, "z": 0}, "q2": {"c": 1}, "q3": {"x": 0}}  # q3 has nothing relevant
    run = {"q1": [("b", 3.0), ("x", 2.0), ("a", 1.0)], "q2": [("d", 1.0)]}
    scores = evaluate(qrels, run)
    # q1: DCG = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3)
    ndcg_q1 = 2 / (2 + 1 / math.log2(3))
    assert scores.per_query["nDCG@10"] == pytest.approx({"q1": ndcg_q1, "q2": 0.0}, abs=1e-9)
    assert scores.mean("nDCG@10") == pytest.approx(ndcg_q1 / 2, abs=1e-9)  # q3 left out, q2 counts as 0
    assert scores.per_query["MRR@10"] == {"q1": 1.0, "q2": 0.0}
    assert scores.per_query["R@100"] == {"q1": 1.0, "q2": 0.0}
    assert scores.per_query["P@10"]["q1"] == pytest.approx(0.2)
    # a judged query missing from the run scores 0 (trec_eval -c), not left out
    assert evaluate(qrels, {"q1": run["q1"]}).mean("R@100") == pytest.approx(0.5)


def test_ties_follow_trec_eval_and_written_runs_keep_our_order(tmp_path: Path) -> None:
    qrels = {"q": {"a": 1}}
    tied = {"q": [("a", 1.0), ("b", 1.0)]}
    # trec_eval orders equal scores by docid, descending: b before a
    assert evaluate(qrels, tied).per_query["MRR@10"]["q"] == 0.5
    back = read_run(write_run(tmp_path / "t.run", tied, "x"))
    assert [d for d, _ in back["q"]] == ["a", "b"] and back["q"][0][1] > back["q"][1][1]
    assert evaluate(qrels, back).per_query["MRR@10"]["q"] == 1.0
    # MRR@10 looks at the top 10 only
    deep = {"q": [(f"d{i:02d}", 100.0 - i) for i in range(11)] + [("a", 0.0)]}
    assert evaluate(qrels, deep).per_query["MRR@10"]["q"] == 0.0


def test_odd_ids_survive_run_and_qrels_files(tmp_path: Path) -> None:
    for value in ODD_IDS:
        assert decode_id(encode_id(value)) == value and not any(c.isspace() for c in encode_id(value))
    run = {qid: [(doc, 10.0 - n) for n, doc in enumerate(ODD_IDS)] for qid in ("query one", "q/2")}
    qrels = {qid: {ODD_IDS[3]: 2, ODD_IDS[4]: 1} for qid in run}
    back = read_run(write_run(tmp_path / "odd.run", run, "tag with space"))
    assert back == {q: [(d, pytest.approx(s)) for d, s in r] for q, r in run.items()}
    assert load_qrels(write_qrels(tmp_path / "odd.qrels", qrels)) == qrels
    assert len((tmp_path / "odd.run").read_text().splitlines()[0].split()) == 6


def test_bad_files_name_file_and_line(tmp_path: Path) -> None:
    bad_run = tmp_path / "bad.run"
    bad_run.write_text("q Q0 d 1 1.0 t\nq Q0 e 2 high t\n")
    with pytest.raises(InvalidRequest, match=r"bad\.run:2: score"):
        read_run(bad_run)
    bad_qrels = tmp_path / "bad.qrels"
    bad_qrels.write_text("q 0 d 1\nq 0 e\n")
    with pytest.raises(InvalidRequest, match=r"bad\.qrels:2"):
        load_qrels(bad_qrels)
    bad_queries = tmp_path / "queries.jsonl"
    bad_queries.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2"}\n')
    with pytest.raises(InvalidRequest, match=r"queries\.jsonl:2"):
        load_queries(bad_queries)


# -- JSONL documents built, searched and served -------------------------------------------------------------


def test_jsonl_corpus_keeps_ids_and_cites_lines(beir, settings_factory, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build
    from qa.search.retriever import Retriever

    written, index_dir = beir
    retriever = Retriever.load(index_dir, settings_factory(index=index_dir), embedder=embedder)
    assert set(retriever.articles) == set(written.doc_ids)
    assert any(" é" in i for i in written.doc_ids) and all("/" in i for i in written.doc_ids)
    target = next(i for i in written.doc_ids if i.endswith(" é"))
    line = written.doc_ids.index(target) + 1
    result = retriever.search(written.texts[target][:200], k=3, mode="hybrid")
    top = result.hits[0].chunk
    assert top.article_id == target and top.file == f"corpus.jsonl:{line}"
    assert written.texts[target][top.start:top.end].startswith(top.text[:40])

    # bad lines are reported by file:line and skipped; the rest builds
    corpus = tmp_path / "docs.jsonl"
    good = json.dumps({"_id": "a b/ç", "title": "T", "text": "Some text about owls hunting at night."})
    corpus.write_text(good + "\n{not json\n" + json.dumps({"_id": "x", "text": ""}) + "\n" + good + "\n")
    report = build(settings_factory(index=tmp_path / "idx"), corpus, tmp_path / "idx", embedder=embedder)
    assert report.articles == 1
    assert [str(p) for p in report.problems] == [
        "docs.jsonl:2: skipped: not JSON: Expecting property name enclosed in double quotes (column 2)",
        "docs.jsonl:3: skipped: empty `text`", "docs.jsonl:4: skipped: repeated _id 'a b/ç'"]

    # incremental: an edited line re-embeds that document only
    other = json.dumps({"_id": "b", "title": "U", "text": "Bats hunt at dusk."})
    corpus.write_text(good + "\n" + other + "\n")
    build(settings_factory(index=tmp_path / "idx"), corpus, tmp_path / "idx", embedder=embedder)
    corpus.write_text(good + "\n" + other.replace("dusk", "dawn") + "\n")
    again = build(settings_factory(index=tmp_path / "idx"), corpus, tmp_path / "idx", embedder=embedder)
    assert again.changed == ["b"] and again.unchanged == 1 and again.embedded == 1


def test_jsonl_corpus_through_the_http_api(beir, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from qa.serve.api import create_app

    written, index_dir = beir
    target = next(i for i in written.doc_ids if i.endswith(" é"))
    with TestClient(create_app(settings_factory(index=index_dir), embedder=embedder)) as client:
        r = client.post("/v1/search", json={"query": written.texts[target][:200], "k": 3})
        assert r.status_code == 200, r.text
        top = r.json()["results"][0]
        assert top["article"]["id"] == target and top["source"]["file"].startswith("corpus.jsonl:")
        r = client.post("/v1/search", json={"query": "anything", "articles": [target]})
        assert r.status_code == 200 and {h["article"]["id"] for h in r.json()["results"]} == {target}
        r = client.get(f"/v1/articles/{quote(target)}")
        assert r.status_code == 200 and r.json()["id"] == target and r.json()["file"].startswith("corpus.jsonl:")


# -- qa eval --beir, runs, qa compare, qa tune --beir -------------------------------------------------------


def test_qa_eval_beir_matches_pytrec_eval_reading_the_run_files(beir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pytrec_eval

    written, index_dir = beir
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["eval", "--beir", str(written.folder), "--index", str(index_dir),
                                  "--split", "test", "--json", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["queries"] == 8 and set(report["measures"]) == {"hybrid", "dense", "lexical"}
    judgements = load_beir(written.folder, "test")
    assert load_qrels(tmp_path / "r.qrels") == judgements.qrels
    for mode, means in report["measures"].items():
        path = tmp_path / f"r-{mode}.run"
        run = read_run(path)
        assert set(run) == set(judgements.queries)
        assert all(len(docs) == 40 for docs in run.values()) or mode == "lexical"  # BM25 lists matches only
        # pytrec_eval parses the files itself (odd ids with spaces encoded, so whitespace split works)
        with path.open() as f_run, (tmp_path / "r.qrels").open() as f_qrels:
            ref_run, ref_qrels = pytrec_eval.parse_run(f_run), pytrec_eval.parse_qrel(f_qrels)
        ref = pytrec_eval.RelevanceEvaluator(ref_qrels, {"ndcg_cut_10", "recall_100"}).evaluate(ref_run)
        assert means["nDCG@10"] == pytest.approx(np.mean([v["ndcg_cut_10"] for v in ref.values()]), abs=1e-6)
        assert means["R@100"] == pytest.approx(np.mean([v["recall_100"] for v in ref.values()]), abs=1e-6)
        # MRR@10 from the rank column, by hand
        rel = {q: {d for d, g in docs.items() if g > 0} for q, docs in judgements.qrels.items()}
        rr = [next((1 / n for n, (d, _) in enumerate(run[q][:10], 1) if d in rel[q]), 0.0) for q in rel]
        assert means["MRR@10"] == pytest.approx(float(np.mean(rr)), abs=1e-6)
    assert report["measures"]["hybrid"]["R@100"] == pytest.approx(1.0)  # every document was ranked
    assert report["measures"]["hybrid"]["nDCG@10"] > 0.5  # the question's own paragraph is usually near the top

    # qa compare finds the qrels beside the run; identical runs: p = 1; HTML written
    r = CliRunner().invoke(main, ["compare", str(tmp_path / "r-dense.run"), str(tmp_path / "r-dense.run"),
                                  "--html", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    assert "1.0000" in r.output and "0/8/0" in r.output and "Fisher randomization" in r.output
    assert "paired t" in (tmp_path / "c.html").read_text()


def test_compare_tells_a_clearly_worse_run_apart(beir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from qa.evaluation.ir_runner import rank_documents
    from qa.search.retriever import Retriever

    written, index_dir = beir
    judgements = load_beir(written.folder, "test")
    retriever = Retriever.load(index_dir)
    run = rank_documents(retriever, judgements.judged | load_beir(written.folder, "dev").judged, "hybrid", 40).run
    qrels = judgements.qrels | load_beir(written.folder, "dev").qrels
    worse = {q: [(d, float(n)) for n, (d, _) in enumerate(docs)] for q, docs in run.items()}  # reversed
    same = compare_runs(qrels, run, run)
    assert all(m.p_randomization == 1.0 and m.p_t == 1.0 and m.wins == m.losses == 0 for m in same.measures)
    diff = compare_runs(qrels, run, worse)
    ndcg = diff.measures[0]
    assert ndcg.measure == "nDCG@10" and ndcg.diff < -0.3 and ndcg.losses >= 12
    assert ndcg.p_randomization < 0.01 and ndcg.p_t < 0.01 and diff.moved
    with pytest.raises(InvalidRequest, match="none of the 16 judged queries"):
        compare_runs(qrels, run, {"elsewhere": run[next(iter(run))]})
    half = dict(list(run.items())[:8])
    assert compare_runs(qrels, run, half).missing == (0, 8)
    # exact test by hand: three equal differences, 2 of the 8 sign patterns are as extreme
    assert randomization_p(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.25)


def test_qa_tune_beir_chooses_on_dev_and_reports_test(beir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    written, index_dir = beir
    out = tmp_path / "retrieval.json"
    out.write_text(json.dumps({"rrf_k": 20, "read": {"passages": 4}, "calibrations": {"hybrid": {"threshold": 0.4}}}))
    r = CliRunner().invoke(main, ["tune", "--beir", str(written.folder), "--index", str(index_dir),
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["read"] == {"passages": 4} and data["calibrations"] == {"hybrid": {"threshold": 0.4}}
    tuned = data["tuned"]
    assert tuned["split"] == "data-dev" and tuned["test_split"] == "data-test"
    dev, test = tuned["metrics"]["tune"], tuned["metrics"]["test"]
    best_single = max(dev["dense"]["nDCG@10"], dev["lexical"]["nDCG@10"])
    assert dev["hybrid (tuned)"]["nDCG@10"] >= best_single - 1e-9  # the one-sided fusions are in the grid
    assert set(test) == {"dense", "lexical", "hybrid (as built)", "hybrid (tuned)"}
    assert data["fusion"] in ("rrf", "weighted") and "data-test" in r.output


def test_jsonl_eval_writes_section_runs_and_qrels(seed_index: Path, tmp_path: Path) -> None:
    lines = (ROOT / "eval" / "kherson.jsonl").read_text().splitlines()[::10]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(main, ["eval", "--questions", str(questions), "--index", str(seed_index),
                                  "--modes", "hybrid,lexical", "--json", str(tmp_path / "s.json"),
                                  "--html", str(tmp_path / "s.html")])
    assert r.exit_code == 0, r.output
    assert "s.qrels" in r.output and "s-hybrid.run" in r.output
    qrels = load_qrels(tmp_path / "s.qrels")
    answerable = [json.loads(line) for line in lines if json.loads(line)["sections"]]
    assert set(qrels) == {q["id"] for q in answerable}
    first = answerable[0]
    assert qrels[first["id"]] == {f"{first['article']}#{' › '.join(s)}": 1 for s in first["sections"]}
    run = read_run(tmp_path / "s-hybrid.run")
    assert len(run) == len(lines)
    assert all(len({d for d, _ in docs}) == len(docs) for docs in run.values())
    assert evaluate(qrels, run).mean("nDCG@10") > 0.5


def test_jsonl_build_in_worker_processes_gives_the_same_passages(beir, settings_factory, embedder,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    from qa.build import build
    from qa.index import folder as ix

    written, index_dir = beir
    other = tmp_path / "idx"
    report = build(settings_factory(index=other), written.folder / "corpus.jsonl", other, embedder=embedder,
                   processes=2)
    assert report.articles == 40 and not report.problems
    one = [c.to_dict() for c in ix.read_chunks(ix.resolve(index_dir))]
    two = [c.to_dict() for c in ix.read_chunks(ix.resolve(other))]
    assert one == two
