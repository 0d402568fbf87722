"""The reader's dev split as a `qa` corpus: held-out SQuAD articles as Markdown + an eval set over them.

Each held-out article becomes `<folder>/articles/<slug>.md` with one `##` section a paragraph, so gold is
(article, ["Paragraph N"]); half of the held-out NQ paragraphs are written the same way, by page title
(`nq_<slug>.md`). Questions (`<folder>/questions.jsonl`, the eval format of DESIGN.md): answerable SQuAD
questions, and answerable NQ ones (real search queries, lower case, as users type them); "nearby"
unanswerable ones — SQuAD questions with an entity or number swapped (`data.perturb`), so they share words
and topic with the corpus; off-topic NQ questions (from the other half) whose answer no paragraph holds.
Weights and thresholds of the read stage are chosen on this, never on `eval/kherson.jsonl`.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from qa.training import data


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def write(data_dir: Path, folder: Path, seed: int = 13, answerable: int = 500, nearby: int = 250,
          off_topic: int = 250, answerable_nq: int = 250, dev_share: float = 0.1) -> Path:
    """Write the articles and the questions; returns the questions file."""
    _, dev = data.load(data_dir, seed, dev_share)
    rng = random.Random(seed)
    articles = folder / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    for stale in articles.glob("*.md"):  # the folder is this function's own: a rewrite leaves nothing behind
        stale.unlink()
    qas: list[tuple[str, str, str, str, int]] = []  # (id, question, article, answer, paragraph number)
    contexts: list[str] = []
    for title, paras in sorted(dev.squad.items()):
        aid = slug(title)  # SQuAD titles are unique; NQ pages get an `nq_` prefix below
        lines = ["---", f"title: {json.dumps(title)}", f"description: {json.dumps(title + ' (SQuAD dev split)')}",
                 "---", ""]
        for n, para in enumerate(paras, 1):
            lines += [f"## Paragraph {n}", "", para.context.strip(), ""]
            contexts.append(para.context.lower())
            qas += [(qid, q, aid, a, n) for qid, q, a, _ in para.qas]
        (articles / f"{aid}.md").write_text("\n".join(lines), encoding="utf-8")
    rng.shuffle(qas)
    rows: list[dict[str, Any]] = [{"id": f"d{i:04d}", "question": q, "article": aid, "sections": [[f"Paragraph {n}"]], "answer": a,
             "tags": ["squad"]} for i, (_, q, aid, a, n) in enumerate(qas[:answerable])]
    by_title = {slug(t): paras for t, paras in dev.squad.items()}
    pools = data.entity_pools(dev)
    made = 0
    for _, question, aid, _, n in qas[answerable:]:
        if made >= nearby:
            break
        para = by_title[aid][n - 1]
        changed = data.perturb(question, para.context, para.title, pools, rng)
        if changed is not None:
            rows.append({"id": f"p{made:04d}", "question": changed, "article": None, "sections": [],
                         "tags": ["unanswerable", "nearby"]})
            made += 1
    nq_all = [p for p in dev.nq if p.qas[0][2].strip()]  # a few NQ spans are empty
    rng.shuffle(nq_all)
    in_corpus, rest = nq_all[:answerable_nq], nq_all[answerable_nq:]
    by_page: dict[str, dict[str, list[data.Paragraph]]] = {}  # page slug → paragraph text → its questions
    for para in in_corpus:
        by_page.setdefault("nq_" + slug(para.title), {}).setdefault(para.context.strip(), []).append(para)
    for aid, page in sorted(by_page.items()):
        title = next(iter(page.values()))[0].title
        lines = ["---", f"title: {json.dumps(title)}", f"description: {json.dumps(title + ' (NQ dev split)')}",
                 "---", ""]
        for n, (context, asked) in enumerate(page.items(), 1):
            lines += [f"## Paragraph {n}", "", context, ""]
            contexts.append(context.lower())
            rows += [{"id": f"q{len(rows):04d}", "question": p.qas[0][1], "article": aid,
                      "sections": [[f"Paragraph {n}"]], "answer": p.qas[0][2], "tags": ["nq"]} for p in asked]
        (articles / f"{aid}.md").write_text("\n".join(lines), encoding="utf-8")
    nq = [p for p in rest if not any(p.qas[0][2].lower() in c for c in contexts)]
    rows += [{"id": f"n{i:04d}", "question": p.qas[0][1], "article": None, "sections": [],
              "tags": ["unanswerable", "off-topic"]} for i, p in enumerate(nq[:off_topic])]
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
