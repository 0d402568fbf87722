"""A small BEIR-format dataset written from ../shared/qa-train (SQuAD 1.1 train paragraphs), for tests and bench.

corpus.jsonl: paragraphs as documents (`_id` = `<article title>/<paragraph>`, so every id has a `/`; every
fifth also a space and a non-ASCII letter). queries.jsonl: each chosen paragraph's first question.
qrels/{test,dev}.tsv (queries alternate between them): the question's own paragraph at relevance 2, and
any other document of the corpus that contains the answer text verbatim at relevance 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "qa-train" / "squad-1.1-train" / "paragraphs.jsonl"


@dataclass(frozen=True)
class Written:
    folder: Path
    doc_ids: list[str]
    texts: dict[str, str]
    titles: dict[str, str]
    queries: dict[str, str]


def doc_id(title: str, para: int) -> str:
    base = f"{title}/{para}"
    return f"{base} é" if para % 5 == 4 else base


def write_beir(folder: Path, docs: int = 60, queries: int = 20, graded_from_answers: bool = True) -> Written:
    """The first `docs` SQuAD paragraphs as a BEIR folder; `queries` of them (spread evenly) asked."""
    rows = []
    with SQUAD.open(encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
            if len(rows) == docs:
                break
    ids = [doc_id(r["title"], r["para_index"]) for r in rows]
    texts = {i: r["context"] for i, r in zip(ids, rows)}
    titles = {i: r["title"].replace("_", " ") for i, r in zip(ids, rows)}
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for i in ids:
            out.write(json.dumps({"_id": i, "title": titles[i], "text": texts[i], "metadata": {}}, ensure_ascii=False)
                      + "\n")
    step = max(1, len(rows) // queries)
    asked: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for n, row in enumerate(rows[::step][:queries]):
        qa = row["qas"][0]
        qid = f"q{n:04d}"
        own = doc_id(row["title"], row["para_index"])
        asked[qid] = qa["question"]
        qrels[qid] = {own: 2}
        if graded_from_answers:
            answer = qa["answers"][0]
            for other in ids:
                if other != own and len(answer) >= 4 and answer in texts[other]:
                    qrels[qid][other] = 1
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for qid, text in asked.items():
            out.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, parity in (("test", 0), ("dev", 1)):
        with (folder / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as out:
            out.write("query-id\tcorpus-id\tscore\n")
            for n, (qid, docs_rel) in enumerate(qrels.items()):
                if n % 2 == parity:
                    for d, rel in docs_rel.items():
                        out.write(f"{qid}\t{d}\t{rel}\n")
    return Written(folder, ids, texts, titles, asked)


def write_markdown(folder: Path, written: Written) -> Path:
    """The same documents as Markdown articles (one file each), for the build-time comparison in bench."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, i in enumerate(written.doc_ids):
        title = json.dumps(written.titles[i], ensure_ascii=False)
        (folder / f"doc{n:05d}.md").write_text(f"---\ntitle: {title}\n---\n{written.texts[i]}\n", encoding="utf-8")
    return folder
