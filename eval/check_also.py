"""Check the eval set's labels (main and `also`) against an index's passages.

    .venv/bin/python eval/check_also.py [--questions eval/kherson.jsonl] [--index index/frontlines]

For every answerable question whose article the index holds: each gold section path must exist in the
index's chunks.jsonl and the answer must be found in that question's gold passages (any of its sections).

For every `also` entry: each section path must exist for that article in the index's chunks.jsonl, the
answer must be found in that section's passage text by `metrics.answer_rank` (the matcher `qa eval` uses),
and the evidence quote (minus leading/trailing "…") must occur in one of the entry's sections. Prints one row per
question that has `also` entries, and exits 1 when any entry fails, so a re-chunked or re-built index
that loses a labelled section is noticed before its numbers are believed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from qa.evaluation import load_questions
from qa.evaluation import metrics as m
from qa.evaluation.questions import AlsoGold, Question

SectionKey = tuple[str, tuple[str, ...]]


def section_texts(index: Path) -> dict[SectionKey, list[str]]:
    """Passage texts by (article id, section path), read straight from the index's chunks.jsonl."""
    out: dict[SectionKey, list[str]] = defaultdict(list)
    with (index / "chunks.jsonl").open(encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            out[(c["article_id"], tuple(c["section_path"]))].append(c["text"])
    return out


def check_entry(entry: AlsoGold, texts: dict[SectionKey, list[str]]) -> list[str]:
    """Problems with one `also` entry (empty when it holds)."""
    problems = []
    evidence = entry.evidence.strip("… ")
    found_in: list[str] = []
    for section in entry.sections:
        passages = texts.get((entry.article, section))
        where = f"{entry.article} § {' › '.join(section) or '(lead)'}"
        if passages is None:
            problems.append(f"{where}: no such section in the index")
            continue
        if m.answer_rank(entry.answer, passages) is None:
            problems.append(f"{where}: answer {entry.answer!r} not in its passages")
        found_in += passages
    if evidence and found_in and m.answer_rank(evidence, [" ".join(found_in)]) is None:
        problems.append(f"{entry.article}: evidence quote not found in its sections")
    return problems


def check_main(q: Question, texts: dict[SectionKey, list[str]]) -> list[str]:
    """Problems with a question's own label: missing sections, or an answer none of its sections states."""
    problems, found_in = [], []
    for section in q.sections:
        passages = texts.get((q.article or "", section))
        if passages is None:
            problems.append(f"{q.article} § {' › '.join(section) or '(lead)'}: no such section in the index")
        else:
            found_in += passages
    if found_in and q.answer and m.answer_rank(q.answer, found_in) is None:
        problems.append(f"{q.article}: answer {q.answer!r} not in its gold sections")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", type=Path, default=Path("eval/kherson.jsonl"))
    ap.add_argument("--index", type=Path, default=Path("index/frontlines"))
    args = ap.parse_args(argv)
    questions = load_questions(args.questions)
    texts = section_texts(args.index)
    failures = 0
    articles = {a for a, _ in texts}
    for q in questions:
        if not q.sections or q.article not in articles:
            continue
        problems = check_main(q, texts)
        failures += len(problems)
        for p in problems:
            print(f"{q.id}: ! {p}")
    print(f"{'id':5} {'seed':5} {'n':>2}  also entries (article § section: answer)  status")
    for q in questions:
        if not q.also:
            continue
        problems = [p for e in q.also for p in check_entry(e, texts)]
        failures += len(problems)
        seed = "ans" if q.sections else "unans"
        entries = "; ".join(
            f"{e.article} § {' | '.join(' › '.join(s) or '(lead)' for s in e.sections)}: {e.answer!r}" for e in q.also
        )
        print(f"{q.id:5} {seed:5} {len(q.also):>2}  {entries}  {'OK' if not problems else 'FAIL'}")
        for p in problems:
            print(f"      ! {p}")
    with_also = [q for q in questions if q.also]
    newly = [q for q in with_also if not q.sections]
    print(
        f"\n{sum(len(q.also) for q in with_also)} also entries on {len(with_also)} of {len(questions)} questions; "
        f"{len(newly)} seed-unanswerable questions answered by other articles "
        f"({', '.join(q.id for q in newly)}); {failures} problem(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
