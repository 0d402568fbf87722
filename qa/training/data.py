"""Training and dev examples for the reader, made from `../shared/qa-train/` (SQuAD 1.1 train + NQ).

Positives are (question, its paragraph, answer). "No answer" examples are made, as SQuAD 2.0 describes:
- `neg-article`: the question with another paragraph of its own article, drawn at random (near-topic);
- `neg-sibling`: the question with the paragraph of its own article that shares the most of its words (idf-
  weighted) without holding the answer: the same article, the question's names and places, another fact —
  what a reader meets when a corpus is about the question's events but does not state the fact asked for;
- `neg-retrieved`: the question with the best BM25 paragraph of another article (what retrieval returns);
- `neg-perturbed`: the question with a named entity or number swapped for one from another article, over its
  own paragraph, which then no longer answers it;
- `neg-sentence`: the question over its own paragraph with the sentence that states the answer taken out. The
  rest still tells of the same event in the question's words and holds spans of the right kind, but not the
  fact asked for: the "same events, fact not stated" case that near-topic questions over a corpus are.
A negative never contains the answer string. Whole SQuAD articles (and a share of NQ) are held out as the dev
split, chosen by a hash of the title and the seed, so the split is reproducible and never trained on.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("squad", "nq", "neg-article", "neg-retrieved", "neg-perturbed", "neg-sentence", "neg-sibling")


@dataclass(frozen=True)
class Example:
    """One reader example: `answer` is None for "no answer"; `start` is a character offset into `context`."""

    qid: str
    kind: str
    question: str
    title: str
    context: str
    answer: str | None = None
    start: int | None = None


@dataclass(frozen=True)
class Paragraph:
    title: str
    context: str
    qas: list[tuple[str, str, str, int]]  # (qid, question, answer, start)


@dataclass
class Mix:
    """Share of each example kind in the training set (normalised)."""

    squad: float = 0.38
    nq: float = 0.12
    neg_article: float = 0.07
    neg_retrieved: float = 0.10
    neg_perturbed: float = 0.12
    neg_sentence: float = 0.14
    neg_sibling: float = 0.07

    def shares(self) -> dict[str, float]:
        return {"squad": self.squad, "nq": self.nq, "neg-article": self.neg_article,
                "neg-retrieved": self.neg_retrieved, "neg-perturbed": self.neg_perturbed,
                "neg-sentence": self.neg_sentence, "neg-sibling": self.neg_sibling}

    def counts(self, n: int) -> dict[str, int]:
        shares = self.shares()
        total = sum(shares.values())
        return {k: round(n * v / total) for k, v in shares.items()}


@dataclass
class Corpus:
    """The train or dev half of the data: paragraphs by title, NQ examples as one-question paragraphs."""

    squad: dict[str, list[Paragraph]] = field(default_factory=dict)
    nq: list[Paragraph] = field(default_factory=list)

    def paragraphs(self) -> Iterator[Paragraph]:
        for paras in self.squad.values():
            yield from paras
        yield from self.nq


def _held_out(key: str, seed: int, dev_share: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < dev_share


def load(data_dir: Path, seed: int = 13, dev_share: float = 0.1) -> tuple[Corpus, Corpus]:
    """(train, dev): SQuAD split by whole article, NQ by example; both from `data_dir` (shared/qa-train)."""
    train, dev = Corpus(), Corpus()
    with open(data_dir / "squad-1.1-train" / "paragraphs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title = row["title"].replace("_", " ")
            qas = [(f"s:{title}:{row['para_index']}:{i}", qa["question"], qa["answers"][0], qa["answer_start"][0])
                   for i, qa in enumerate(row["qas"])]
            half = dev if _held_out(title, seed, dev_share) else train
            half.squad.setdefault(title, []).append(Paragraph(title, row["context"], qas))
    for path in sorted((data_dir / "nq-qed-train").glob("nq-train-*-qed.jsonlines")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if not row["answer_spans"]:
                    continue
                start, end = row["answer_spans"][0]
                text = row["paragraph_text"]
                qid = f"n:{row['example_id']}"
                half = dev if _held_out(qid, seed, dev_share) else train
                half.nq.append(Paragraph(row["title_text"], text, [(qid, row["question_text"], text[start:end], start)]))
    return train, dev


_ENTITY = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][\w'-]+(?:\s+(?:of\s+|the\s+)?[A-Z][\w'-]+)*")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")


def _swap_candidates(question: str) -> list[tuple[int, int, str]]:
    found = [(m.start(), m.end(), "year" if re.fullmatch(r"1\d{3}|20\d\d", m.group()) else "number")
             for m in _NUMBER.finditer(question)]
    found += [(m.start(), m.end(), "entity") for m in _ENTITY.finditer(question)]
    return found


def perturb(question: str, context: str, title: str, pools: dict[str, list[tuple[str, str]]],
            rng: random.Random) -> str | None:
    """The question with one entity / number that its paragraph mentions replaced by one from another article
    that the paragraph does not mention; None when nothing fits."""
    spans = [s for s in _swap_candidates(question) if question[s[0]:s[1]] in context]
    rng.shuffle(spans)
    for start, end, kind in spans:
        pool = pools[kind]
        for _ in range(8):
            other_title, repl = pool[rng.randrange(len(pool))]
            if other_title != title and repl not in context and repl.lower() not in question.lower():
                return question[:start] + repl + question[end:]
    return None


def without_answer_sentence(context: str, answer: str, start: int) -> str | None:
    """The paragraph with every sentence that overlaps the answer's span taken out (the others joined by a
    space); None when fewer than two sentences would stay or the answer's text is still in what stays."""
    from qa.ingest.splitting import sentence_spans

    spans = sentence_spans(context)
    end = start + len(answer)
    kept = [(a, b) for a, b in spans if b <= start or a >= end]
    if len(kept) < 2 or len(kept) == len(spans):
        return None
    rest = " ".join(context[a:b] for a, b in kept)
    return None if answer.lower() in rest.lower() else rest


def entity_pools(corpus: Corpus) -> dict[str, list[tuple[str, str]]]:
    pools: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for para in corpus.paragraphs():
        for _, question, _, _ in para.qas:
            for start, end, kind in _swap_candidates(question):
                pools[kind].append((para.title, question[start:end]))
    return pools


def _retrieved_negatives(corpus: Corpus, queries: list[tuple[Paragraph, tuple[str, str, str, int]]],
                         ) -> list[Example]:
    """For each (paragraph, qa): the best BM25 paragraph of another article that does not hold the answer."""
    import bm25s
    import Stemmer

    paras = list(corpus.paragraphs())
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([p.context for p in paras], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    tokens = bm25s.tokenize([qa[1] for _, qa in queries], stopwords="en", stemmer=stemmer, show_progress=False)
    docs, _ = retriever.retrieve(tokens, k=min(10, len(paras)), show_progress=False, n_threads=1)
    out = []
    for (para, (qid, question, answer, _)), row in zip(queries, docs, strict=True):
        for doc in row:
            other = paras[int(doc)]
            if other.title != para.title and answer.lower() not in other.context.lower():
                out.append(Example(qid + ":r", "neg-retrieved", question, other.title, other.context))
                break
    return out


_WORD = re.compile(r"\w{3,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _siblings_without(corpus: Corpus, para: Paragraph, answer: str) -> list[Paragraph]:
    """The other paragraphs of `para`'s article that do not hold the answer string."""
    return [s for s in corpus.squad[para.title] if s is not para and answer.lower() not in s.context.lower()]


def closest_sibling(question: str, siblings: list[Paragraph], idf: dict[str, float],
                    words_of: Callable[[Paragraph], set[str]] | None = None) -> Paragraph | None:
    """The sibling sharing the most of the question's words, weighed by idf (None when none shares any);
    `words_of` gives a paragraph's words when they are already known (else they are read from its text)."""
    asked = _words(question)
    words_of = words_of or (lambda p: _words(p.context))
    best, best_score = None, 0.0
    for s in siblings:
        score = sum(idf.get(w, 0.0) for w in asked & words_of(s))
        if score > best_score:
            best, best_score = s, score
    return best


def make_examples(corpus: Corpus, n: int, seed: int, mix: Mix | None = None) -> list[Example]:
    """About `n` shuffled examples of the seven kinds in the proportions of `mix` (fewer where data runs out)."""
    rng = random.Random(seed)
    want = (mix or Mix()).counts(n)
    squad_qas = [(p, qa) for paras in corpus.squad.values() for p in paras for qa in p.qas]
    nq_qas = [(p, p.qas[0]) for p in corpus.nq]
    rng.shuffle(squad_qas)
    rng.shuffle(nq_qas)
    out = [Example(qa[0], "squad", qa[1], p.title, p.context, qa[2], qa[3]) for p, qa in squad_qas[:want["squad"]]]
    out += [Example(qa[0], "nq", qa[1], p.title, p.context, qa[2], qa[3]) for p, qa in nq_qas[:want["nq"]]]
    # negatives draw questions from the whole pool (a question may also appear as a positive: that is the point)
    pool = squad_qas[::-1]
    made = 0
    for para, (qid, question, answer, _) in pool:
        if made >= want["neg-article"]:
            break
        siblings = _siblings_without(corpus, para, answer)
        if siblings:
            other = rng.choice(siblings)
            out.append(Example(qid + ":a", "neg-article", question, para.title, other.context))
            made += 1
    mixed = squad_qas[len(squad_qas) // 3:] + nq_qas  # SQuAD and NQ questions, so question style says nothing
    rng.shuffle(mixed)
    out += _retrieved_negatives(corpus, mixed[:want["neg-retrieved"]])
    pools = entity_pools(corpus)
    made = 0
    for para, (qid, question, _, _) in squad_qas[len(squad_qas) // 2:] + nq_qas:
        if made >= want["neg-perturbed"]:
            break
        changed = perturb(question, para.context, para.title, pools, rng)
        if changed is not None:
            out.append(Example(qid + ":p", "neg-perturbed", changed, para.title, para.context))
            made += 1
    made = 0
    for para, (qid, question, answer, start) in squad_qas[len(squad_qas) // 4:] + squad_qas[:len(squad_qas) // 4]:
        if made >= want["neg-sentence"]:
            break
        rest = without_answer_sentence(para.context, answer, start)
        if rest is not None:
            out.append(Example(qid + ":s", "neg-sentence", question, para.title, rest))
            made += 1
    if want["neg-sibling"]:
        words = {id(p): _words(p.context) for p in corpus.paragraphs()}  # each paragraph's words, read once
        df: dict[str, int] = defaultdict(int)
        for ws in words.values():
            for w in ws:
                df[w] += 1
        idf = {w: math.log(len(words) / c) for w, c in df.items()}
        made = 0
        for para, (qid, question, answer, _) in squad_qas[len(squad_qas) // 3:] + squad_qas[:len(squad_qas) // 3]:
            if made >= want["neg-sibling"]:
                break
            closest = closest_sibling(question, _siblings_without(corpus, para, answer), idf, lambda p: words[id(p)])
            if closest is not None:
                out.append(Example(qid + ":b", "neg-sibling", question, para.title, closest.context))
                made += 1
    rng.shuffle(out)
    return out


def selection_record(train: list[Example], dev: list[Example], seed: int, dev_titles: list[str]) -> dict:
    """What was selected, so a run can be checked and repeated: counts, dev articles, a hash of the ids."""

    def summary(examples: list[Example]) -> dict:
        ids = "\n".join(e.qid for e in examples).encode()
        return {"count": len(examples), "by_kind": {k: sum(e.kind == k for e in examples) for k in KINDS},
                "ids_sha256": hashlib.sha256(ids).hexdigest()}

    return {"seed": seed, "mix": asdict(Mix()), "train": summary(train), "dev": summary(dev),
            "dev_squad_articles": sorted(dev_titles)}
