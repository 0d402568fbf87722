"""The read stage with the shipped reader (models/reader): in-process, over HTTP, on the CLI, in eval."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from qa.ingest.splitting import sentence_spans
from qa.reader.features import encode, title_prefix
from qa.reader.load import SHIPPED, reader_folder
from qa.reader.model import Reader, Reading
from qa.search.highlight import window_around
from qa.search.reading import ReadConfig, order_by_reader, read_passages
from tests.conftest import SEED_ARTICLE, SEEDS
from tests.live_server import serve

QUESTION = "How many troops did Russia say it withdrew from the right bank?"
READER = Path(os.environ.get("QA_TEST_READER", SHIPPED))


@pytest.fixture(scope="module")
def reader_dir(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped reader; where none is shipped (a checkout without models/reader), a real one trained here
    on a handful of examples, so the stage is still tested end to end (its answers then mean little)."""
    if (READER / "config.json").exists():
        return READER
    from qa.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("reader")
    train(TrainConfig(data_dir=small_data, out=out, examples=48, dev_examples=20, max_length=96, batch_size=8,
                      seed=7), log=lambda line: None)
    return out


@pytest.fixture(scope="module")
def retriever(seed_index: Path, settings_factory, embedder, reader_dir: Path):  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    return Retriever.load(seed_index, settings_factory(index=seed_index, reader=str(reader_dir)), embedder)


def test_order_by_reader_weighs_the_fused_rank() -> None:
    readings = [Reading(0, 1, 1.0, 0.0), Reading(0, 1, 2.5, 0.0), Reading(0, 1, 1.8, 0.0)]
    assert order_by_reader(readings, 0.0) == [1, 2, 0]
    assert order_by_reader(readings, 1.0) == [1, 0, 2]  # 1.0, 1.5, -0.2
    assert order_by_reader(readings, 5.0) == [0, 1, 2]  # the fused order wins


def test_log_rank_penalty_lets_a_deep_passage_rise() -> None:
    """With ln(rank), the 10th passage pays little more than the 4th: a strong reading deep down can come first."""
    readings = [Reading(0, 1, 1.0, 0.0)] + [Reading(0, 1, 0.0, 0.0)] * 8 + [Reading(0, 1, 4.5, 0.0)]
    assert order_by_reader(readings, 1.0, "linear")[0] == 0  # 4.5 − 9 < 1.0
    assert order_by_reader(readings, 1.0, "log")[0] == 9  # 4.5 − ln 10 ≈ 2.2 > 1.0
    assert order_by_reader(readings, 0.0, "log") == order_by_reader(readings, 0.0, "linear")
    with pytest.raises(ValueError, match="unknown rank penalty"):
        order_by_reader(readings, 1.0, "quadratic")


def test_read_config_is_part_of_the_tuned_record() -> None:
    """The read settings live in the one tuned record (`RetrievalConfig.read`), checked where they are read."""
    from qa.index.retrieval import RetrievalConfig

    with pytest.raises(ValueError, match="unknown rank_penalty 'cubic'"):
        RetrievalConfig.from_manifest({"read": {"passages": 5, "rank_penalty": "cubic"}})
    with pytest.raises(ValueError, match="passages must be 1-50"):
        RetrievalConfig.from_manifest({"read": {"passages": 0}})
    config = RetrievalConfig.from_manifest({"read": {"passages": 5, "window_chars": 300}})
    assert config.read == ReadConfig(passages=5, rank_weight=ReadConfig().rank_weight, window_chars=300)
    assert RetrievalConfig.from_manifest({}).read == ReadConfig()  # an index from before: the shipped settings
    assert RetrievalConfig.from_manifest(config.to_dict()) == config


def test_shipped_read_calibration_rises_with_the_reader_relevance_and_the_cosine() -> None:
    """The `read` model is monotone: more reader margin or a closer best sentence never lowers confidence."""
    from qa.index.retrieval import DEFAULT_CALIBRATIONS
    from qa.search.calibration import confidence

    cal = DEFAULT_CALIBRATIONS["read"].to_dict()
    base = {"top_relevance": 0.0, "max_relevance": 0.0, "top_sentence": 0.5, "gap_sentence": 0.05, "top_dense": 0.5,
            "agreement": 0.4}
    assert all(c >= 0 for c in cal["coef"]) and "top_relevance" in cal["features"]
    assert confidence(cal, base | {"top_relevance": 3.0}) > confidence(cal, base) > 0
    assert confidence(cal, base | {"top_sentence": 0.7}) > confidence(cal, base)


def test_reader_setting() -> None:
    from qa.errors import QAError

    assert reader_folder("off") is None
    with pytest.raises(QAError, match="not a model folder"):
        reader_folder("/nonexistent/reader")


def test_reader_overrides_are_unset_or_a_value(seed_index: Path, settings_factory, embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`QA_READER_PASSAGES` / `QA_READER_WINDOW` unset: the index's tuned values (`read` in its manifest); set:
    that value (a window of 0 reads whole passages); out of range: refused, with no sentinel left to mean "unset"."""
    from pydantic import ValidationError

    from qa.index import folder as ix
    from qa.index.retrieval import RetrievalConfig
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    tuned = RetrievalConfig.from_manifest(ix.read_manifest(ix.resolve(seed_index)).retrieval).read
    unset = settings_factory(reader="off")
    assert unset.reader_passages is None and unset.reader_window is None
    assert Retriever.load(seed_index, unset, embedder=embedder).config.read == tuned
    moved = Retriever.load(seed_index, settings_factory(reader="off", reader_passages=7, reader_window=0),
                           embedder=embedder).config.read
    assert (moved.passages, moved.window_chars, moved.rank_weight) == (7, 0, tuned.rank_weight)
    for bad in ({"reader_passages": 0}, {"reader_passages": 51}, {"reader_window": -1}, {"reader_window": 10_001}):
        with pytest.raises(ValidationError):
            settings_factory(**bad)
    monkeypatch.setenv("QA_READER_WINDOW", "")
    monkeypatch.setenv("QA_READER_PASSAGES", "12")
    from_env = Settings()
    assert from_env.reader_window is None and from_env.reader_passages == 12


def test_window_is_whole_sentences_around_the_span() -> None:
    text = "Alpha one two. Beta three four five. Gamma six. Delta seven eight nine ten. Epsilon."
    gamma = (text.index("Gamma"), text.index("Gamma") + len("Gamma six."))
    a, b = window_around(text, gamma, 40)
    assert text[a:b] == "Beta three four five. Gamma six." or text[a:b] == "Gamma six. Delta seven eight nine ten."
    assert b - a <= 40 and a <= gamma[0] and gamma[1] <= b
    assert (a, b) in {(s, e) for s, _ in sentence_spans(text) for _, e in sentence_spans(text)}
    assert window_around(text, gamma, 0) == (0, len(text))  # 0: the whole passage
    assert window_around(text, gamma, 5) == gamma  # the span's own sentence even when wider than the window
    assert window_around(text, gamma, 10_000) == (0, len(text))


@pytest.mark.slow
def test_windowed_reading_gives_offsets_into_the_whole_passage(retriever) -> None:  # type: ignore[no-untyped-def]
    hits = retriever.search(QUESTION, k=5, read=False).hits
    whole = read_passages(retriever.reader, QUESTION, hits, 0)
    windowed = read_passages(retriever.reader, QUESTION, hits, 250)
    assert len(windowed) == len(whole) == 5
    for hit, r in zip(hits, windowed, strict=True):
        a, b = window_around(hit.chunk.text, hit.highlight, 250)
        if r.end > r.start:
            assert a <= r.start < r.end <= b  # read inside the window, reported in passage offsets
            assert hit.chunk.text[r.start:r.end].strip()
    assert any(window_around(h.chunk.text, h.highlight, 250) != (0, len(h.chunk.text)) for h in hits)


@pytest.mark.slow
def test_rows_read_in_length_groups_read_as_one_batch(reader_dir: Path, retriever) -> None:  # type: ignore[no-untyped-def]
    """Running the rows shortest first in groups, each cut to its longest row, gives the one-batch logits."""
    hits = retriever.search(QUESTION, k=10, read=False).hits
    spans = [window_around(h.chunk.text, h.highlight, 200) for h in hits]
    texts = [h.chunk.text[a:b] for h, (a, b) in zip(hits, spans, strict=True)]
    titles = [h.chunk.citation for h in hits]
    grouped, batch = Reader.load(reader_dir, precision="fp32"), Reader.load(reader_dir, precision="fp32")
    grouped.bucket_rows, batch.bucket_rows = 3, len(hits)
    enc = encode(grouped.tokenizer, [QUESTION] * len(texts), [title_prefix(t) for t in titles], texts, 384)
    lengths = enc.attention_mask.sum(axis=1)
    assert lengths.min() < lengths.max()  # the rows differ in length: the groups are cut shorter
    (gs, ge), (bs, be) = grouped.logits(enc), batch.logits(enc)
    real = enc.attention_mask.astype(bool)
    assert np.abs(gs - bs)[real].max() < 1e-3 and np.abs(ge - be)[real].max() < 1e-3
    want, got = batch.read(QUESTION, texts, titles), grouped.read(QUESTION, texts, titles)
    assert [(r.start, r.end) for r in got] == [(r.start, r.end) for r in want]
    grouped.tokenizer.padding_side = batch.tokenizer.padding_side = "left"  # e.g. a hub reader: rows kept whole
    left = encode(grouped.tokenizer, [QUESTION] * len(texts), [title_prefix(t) for t in titles], texts, 384)
    assert left.attention_mask[:, 0].min() == 0  # padded on the left
    (gs, _), (bs, _) = grouped.logits(left), batch.logits(left)
    assert np.abs(gs - bs)[left.attention_mask.astype(bool)].max() < 1e-3


@pytest.mark.slow
def test_onnx_runtimes_agree_with_torch(reader_dir: Path, settings_factory, retriever) -> None:  # type: ignore[no-untyped-def]
    """The exported fp32 graph gives PyTorch's logits; int8 stays close; the export is made once and reused."""
    from qa.reader.onnx_runtime import onnx_file

    cache = settings_factory().cache_dir
    hits = retriever.search(QUESTION, k=5, read=False).hits
    texts, titles = [h.chunk.text for h in hits], [h.chunk.citation for h in hits]
    torch_reader = Reader.load(reader_dir, precision="fp32")
    fp32 = Reader.load(reader_dir, runtime="onnx", cache_dir=cache)
    int8 = Reader.load(reader_dir, runtime="onnx-int8", cache_dir=cache)
    want = torch_reader.read(QUESTION, texts, titles)
    got = fp32.read(QUESTION, texts, titles)
    assert [(r.start, r.end) for r in got] == [(r.start, r.end) for r in want]
    assert max(abs(g.relevance - w.relevance) for g, w in zip(got, want, strict=True)) < 1e-3
    quantised = int8.read(QUESTION, texts, titles)
    spread = max(r.relevance for r in want) - min(r.relevance for r in want)
    assert max(abs(q.relevance - w.relevance) for q, w in zip(quantised, want, strict=True)) < max(1.0, spread / 2)
    file = onnx_file(reader_dir, "onnx-int8", cache)
    stamp = file.stat().st_mtime_ns
    Reader.load(reader_dir, runtime="onnx-int8", cache_dir=cache)
    assert file.stat().st_mtime_ns == stamp  # reused, not exported again
    with pytest.raises(ValueError, match="unknown reader runtime"):
        Reader.load(reader_dir, runtime="tensorrt")


@pytest.mark.slow
def test_search_reads_finds_an_answer_and_cites_it(retriever) -> None:  # type: ignore[no-untyped-def]
    result = retriever.search(QUESTION, k=5, read=True)
    assert result.read and result.answer is not None and len(result.hits) == 5
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    a = result.answer
    hit = result.hits[a.rank - 1]
    assert hit.chunk.id == a.passage_id and hit.chunk.text[a.start:a.end] == a.text and a.text.strip()
    raw = (SEEDS / a.file).read_text(encoding="utf-8")
    assert a.source_start is not None and raw[a.source_start:a.source_end] == a.text
    assert hit.chunk.start <= a.source_start < a.source_end <= hit.chunk.end
    s, e = hit.highlight
    assert s <= a.start and a.end <= e  # the highlight is the sentence holding the answer
    read = [h.rank for h in result.hits if h.reader is not None]
    assert read == list(range(1, min(5, retriever.config.read.passages) + 1))  # the top N read, the rest follow
    assert 0.0 <= result.confidence <= 1.0 and "top_relevance" in result.features


@pytest.mark.slow
def test_answer_sources_come_from_the_index_folder_alone(tmp_path: Path, settings_factory, embedder,  # type: ignore[no-untyped-def]
                                                         reader_dir: Path) -> None:
    """The seeds folder deleted after the build: answers still carry their offsets into the raw file. An index
    built before raw regions were stored still serves, its answers without a source."""
    import shutil

    from qa.index import folder as ix
    from qa.search.retriever import Retriever
    from tests.conftest import seeded_index

    seeds, index_dir, _ = seeded_index(tmp_path, "alone", settings_factory, embedder)
    shutil.rmtree(seeds)
    settings = settings_factory(index=index_dir, seeds=seeds, reader=str(reader_dir))
    a = Retriever.load(index_dir, settings, embedder).search(QUESTION, k=5, read=True).answer
    assert a is not None and a.source_start is not None and a.source_end is not None
    raw = (SEEDS / a.file).read_text(encoding="utf-8")  # the same file the index was built from
    assert raw[a.source_start:a.source_end] == a.text
    (ix.resolve(index_dir) / ix.REGIONS).unlink()  # as built before regions were stored
    old = Retriever.load(index_dir, settings, embedder).search(QUESTION, k=5, read=True).answer
    assert old is not None and old.text == a.text and old.source_start is None and old.source_end is None


@pytest.mark.slow
def test_read_false_is_the_fused_order(retriever, seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    plain = Retriever.load(seed_index, settings_factory(index=seed_index), embedder)
    fast = retriever.search(QUESTION, k=5, read=False)
    assert fast.answer is None and not fast.read
    assert [h.chunk.id for h in fast.hits] == [h.chunk.id for h in plain.search(QUESTION, k=5).hits]
    assert all(h.reader is None for h in fast.hits)


@pytest.mark.slow
def test_context_follows_the_reader_order(retriever) -> None:  # type: ignore[no-untyped-def]
    ctx = retriever.context(QUESTION, max_tokens=600, read=True)
    read_order = [h.chunk.id for h in retriever.search(QUESTION, k=20, read=True).hits]
    used = [h.chunk.id for h in ctx.hits]
    assert used and used == [i for i in read_order if i in used]
    assert ctx.tokens <= 600


@pytest.mark.slow
def test_eval_reports_answers_with_and_without_reading(retriever) -> None:  # type: ignore[no-untyped-def]
    from qa.evaluation import load_questions, run_eval

    questions = [q for q in load_questions(Path("eval/kherson.jsonl"))][:12]
    report = run_eval(retriever, questions, modes=("hybrid", "hybrid+read"), k=10)
    for mode in ("hybrid", "hybrid+read"):
        m = report.modes[mode].metrics
        assert m["answer_f1"] is not None and 0 <= m["answer_f1"] <= 1
        assert m["answer_holds_gold"] is not None
    answers = [r.answer for r in report.modes["hybrid+read"].questions]
    sentences = [r.answer for r in report.modes["hybrid"].questions]
    assert answers != sentences  # reading answers with spans, not the highlighted sentence
    passages = retriever.config.read.passages
    for r in report.modes["hybrid+read"].questions:  # the reader's relevance on the passages it read, only
        assert all(h.reader is not None for h in r.hits[:passages])
        assert all(h.reader is None for h in r.hits[passages:])
    assert all(h.reader is None for r in report.modes["hybrid"].questions for h in r.hits)
    # what computed it, for the gate's note when a baseline came from other arithmetic
    assert report.arithmetic.startswith("embedder torch ") and f"reader {retriever.reader.arithmetic}, cpu " in report.arithmetic


@pytest.fixture(scope="module")
def reading_server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory, reader_dir: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("reading")  # no seeds where the server runs: answers' sources come from the index
    with serve(seed_index, folder, QA_READER=str(reader_dir), QA_SEEDS=str(folder / "no-seeds")) as s:
        yield s.url


@pytest.mark.slow
def test_http_search_returns_the_answer(reading_server: str) -> None:
    with httpx.Client(base_url=reading_server, timeout=60) as c:
        body = c.post("/v1/search", json={"query": QUESTION, "k": 3, "read": True}).json()
        default = c.post("/v1/search", json={"query": QUESTION, "k": 3}).json()  # QA_READ is on by default
        fast = c.post("/v1/search", json={"query": QUESTION, "k": 3, "read": False}).json()
        bad = c.post("/v1/search", json={"query": QUESTION, "read": "yes"})
    answer = body["answer"]
    assert answer is not None and set(answer) == {"text", "score", "rank", "passage_id", "start", "end", "source",
                                                  "citation"}
    holder = body["results"][answer["rank"] - 1]
    assert holder["text"][answer["start"]:answer["end"]] == answer["text"]
    assert holder["article"]["id"] == SEED_ARTICLE and holder["scores"]["reader"] is not None
    raw = (SEEDS / answer["source"]["file"]).read_text(encoding="utf-8")
    assert raw[answer["source"]["start"]:answer["source"]["end"]] == answer["text"]
    assert fast["answer"] is None and all(r["scores"]["reader"] is None for r in fast["results"])
    assert default["answer"] == answer and default["results"] == body["results"]
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_read"


@pytest.mark.slow
def test_cli_search_prints_the_answer_line(seed_index: Path, reader_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from qa.cli import main
    from qa.settings import get_settings

    monkeypatch.setenv("QA_READER", str(reader_dir))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(main, ["search", QUESTION, "--index", str(seed_index), "--k", "3", "--read"])
        as_json = CliRunner().invoke(main, ["search", QUESTION, "--index", str(seed_index), "--json", "--read"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    body = json.loads(as_json.output)
    if body["answerable"]:
        assert f"Answer: {body['answer']['text']}" in out.output
    else:
        assert "No answer in these articles" in out.output


def test_tune_reader_takes_the_cheapest_reading_within_one_question_of_the_best() -> None:
    """`qa tune-reader`'s choice over (passages, window, weight): a window that ranks as well as whole passages
    wins (cheaper); the reader's margin alone separates answerable from unanswerable in the figures."""
    from qa.evaluation.questions import Question
    from qa.training import tune

    rng = __import__("random").Random(5)
    observed = []
    for i in range(200):
        answerable = i % 4 != 0
        tags = () if answerable else (("unanswerable", "nearby") if i % 8 == 0 else ("unanswerable", "off-topic"))
        q = Question(f"d{i:04d}", f"question {i}", "a" if answerable else None,
                     (("Paragraph 2",),) if answerable else (), "x" if answerable else None, tags)
        gold = [False, True] + [False] * 8 if answerable else [False] * 10
        # the reader sees the gold second passage (relevance 4) over the fused first (1); unanswerable: all low
        rel = [1.0, 4.0] + [0.0] * 8 if answerable else [-3.0 + rng.random()] * 10
        readings = {w: [Reading(0, 1, r, 0.0) for r in rel] for w in tune.WINDOWS}
        observed.append(tune.Observed(q, gold, readings, {"top_sentence": rng.random()}, ["x y"] * 10))
    config, report = tune.choose(observed)
    assert (config.passages, config.window_chars) == (min(tune.PASSAGES), min(w for w in tune.WINDOWS if w))
    assert config.rank_weight < 3.0  # a weight of 3 keeps the fused first (1 − 0 > 4 − 3)
    assert report["check"]["first_right_read"] == 1.0 and report["check"]["first_right_fused"] == 0.0
    assert report["check"]["auroc_nearby_margin"] == report["check"]["auroc_off_topic_margin"] == 1.0
    assert 0.2 < report["check"]["auroc_off_topic_cosine"] < 0.8  # the random stand-in cosine: near chance


def test_tune_reader_saves_its_choice_into_the_one_tuned_file(tmp_path: Path) -> None:
    """`qa tune-reader` writes `read` into the tuned settings file (fusion and calibrations kept) and its
    figures beside the reader; the file then loads as the read settings an index is searched with."""
    from qa.index.contract import load_retrieval_file
    from qa.index.retrieval import RetrievalConfig
    from qa.training import tune

    shipped = json.loads((Path(__file__).resolve().parent.parent / "eval" / "retrieval.json").read_text())
    config_file = tmp_path / "retrieval.json"
    config_file.write_text(json.dumps(shipped))
    chosen = ReadConfig(passages=5, rank_weight=0.5, rank_penalty="log", window_chars=300)
    tune.save(chosen, {"dev": {"check": {"answer_f1": 0.5}}}, tmp_path, config_file)
    written = json.loads(config_file.read_text())
    assert written["read"] == chosen.to_dict()
    assert {k: v for k, v in written.items() if k != "read"} == {k: v for k, v in shipped.items() if k != "read"}
    assert RetrievalConfig.from_manifest(load_retrieval_file(config_file)).read == chosen
    record = json.loads((tmp_path / tune.REPORT_FILE).read_text())
    assert record["read"] == chosen.to_dict() and record["dev"]["check"]["answer_f1"] == 0.5
