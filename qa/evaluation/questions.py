"""The eval set: one JSON question a line (DESIGN.md "Eval set"), and the fixed tuning / held-out split."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import InvalidRequest

SPLITS = ("all", "tune", "heldout")
_ID_NUMBER = re.compile(r"(\d+)$")
_ALSO_KEYS = frozenset({"article", "sections", "answer", "evidence"})


@dataclass(frozen=True)
class AlsoGold:
    """Another article's sections that state the same answer (the line's `also` list).

    A corpus with more articles than the seed often answers a question twice; without these a correct
    passage from the other article would count as a miss, and a `nearby` question as unanswerable.
    """

    article: str
    sections: tuple[tuple[str, ...], ...]
    answer: str  # exact phrase as it appears in that section's text
    evidence: str  # short quote from that section, for the reader checking the label


@dataclass(frozen=True)
class Question:
    """A hand-written question with its gold: article id + section paths (+ answer text).

    `also` lists other articles' sections that state the same answer. They become gold only through
    `for_index` (as `also_gold`), because whether they count depends on the index: a question as loaded
    keeps exactly its main label, so code that scores raw questions behaves as before `also` existed.
    """

    id: str
    question: str
    article: str | None
    sections: tuple[tuple[str, ...], ...]
    answer: str | None
    tags: tuple[str, ...]
    also: tuple[AlsoGold, ...] = ()  # every entry on the line
    also_gold: tuple[AlsoGold, ...] = ()  # the entries that count: those whose article the index holds

    @property
    def answerable(self) -> bool:
        """Some gold section exists: the main article's, or (after `for_index`) an `also` entry's."""
        return bool(self.sections) or bool(self.also_gold)

    @property
    def gold_sections(self) -> frozenset[tuple[str, tuple[str, ...]]]:
        """Section keys `(article_id, section_path)` any of which holds the answer."""
        main = {(self.article, s) for s in self.sections} if self.article else set()
        return frozenset(main | {(a.article, s) for a in self.also_gold for s in a.sections})

    @property
    def gold_articles(self) -> frozenset[str]:
        """Article ids with a gold section (the main article only when it has sections)."""
        main = {self.article} if self.article and self.sections else set()
        return frozenset(main | {a.article for a in self.also_gold})

    @property
    def answers(self) -> tuple[str, ...]:
        """Answer texts any of which in a passage counts as the answer: the main one, then the `also` ones."""
        main = (self.answer,) if self.answer and self.sections else ()
        return tuple(dict.fromkeys(main + tuple(a.answer for a in self.also_gold)))

    def for_index(self, article_ids: Collection[str]) -> Question:
        """This question with its gold restricted to the articles an index holds.

        The main sections and answer stay only when the main article is there; an `also` entry joins the
        gold when its article is there. A question with no gold left is unanswerable for that index, so
        on a seed-only index nothing changes and on a bigger one a `nearby` question may become answerable.
        """
        keep_main = self.article is not None and self.article in article_ids
        return replace(
            self,
            sections=self.sections if keep_main else (),
            answer=self.answer if keep_main else None,
            also_gold=tuple(a for a in self.also if a.article in article_ids),
        )

    @property
    def split(self) -> str:
        """`tune` for an odd id number (q001, q003, ...), `heldout` for an even one; see `split_questions`."""
        m = _ID_NUMBER.search(self.id)
        number = int(m.group(1)) if m else sum(self.id.encode())
        return "tune" if number % 2 else "heldout"


def parse_question(d: object, where: str) -> Question:
    """One decoded line → Question; raises InvalidRequest naming `where` when the line is malformed."""
    if not isinstance(d, dict):
        raise InvalidRequest(f"{where}: expected a JSON object", code="invalid_eval_set")
    try:
        qid, text = d["id"], d["question"]
        sections = d.get("sections") or []
        article = d.get("article")
        answer = d.get("answer")
        tags = d.get("tags") or []
        if not (isinstance(qid, str) and qid and isinstance(text, str) and text.strip()):
            raise ValueError("id and question must be non-empty strings")
        if not all(isinstance(s, list) and all(isinstance(p, str) for p in s) for s in sections):
            raise ValueError("sections must be a list of section paths (lists of headings)")
        if sections and not (isinstance(article, str) and article):
            raise ValueError("an answerable question needs an article id")
        if sections and not (isinstance(answer, str) and answer.strip()):
            raise ValueError("an answerable question needs an answer text")
        if not all(isinstance(t, str) for t in tags):
            raise ValueError("tags must be strings")
        also = parse_also(d.get("also", []), article)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where}: {exc}", code="invalid_eval_set") from None
    return Question(
        id=qid,
        question=text,
        article=article if sections else (article or None),
        sections=tuple(tuple(s) for s in sections),
        answer=answer if sections else None,
        tags=tuple(tags),
        also=also,
    )


def parse_also(raw: object, article: object) -> tuple[AlsoGold, ...]:
    """The optional `also` list → AlsoGold entries; TypeError/ValueError saying which entry and field is wrong."""
    if not isinstance(raw, list):
        raise TypeError("also must be a list of objects")
    out: list[AlsoGold] = []
    for i, e in enumerate(raw):
        where = f"also[{i}]"
        if not isinstance(e, dict):
            raise TypeError(f"{where} must be an object")
        unknown = sorted(set(e) - _ALSO_KEYS)
        missing = sorted(_ALSO_KEYS - set(e))
        if unknown or missing:
            raise ValueError(f"{where}: " + "; ".join(
                ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing field(s) {', '.join(missing)}"] if missing else [])))
        if not (isinstance(e["article"], str) and e["article"]):
            raise ValueError(f"{where}: article must be a non-empty article id")
        if e["article"] == article:
            raise ValueError(f"{where}: article {e['article']!r} is the question's own article (use sections)")
        secs = e["sections"]
        if not (isinstance(secs, list) and secs
                and all(isinstance(s, list) and all(isinstance(p, str) for p in s) for s in secs)):
            raise ValueError(f"{where}: sections must be a non-empty list of section paths (lists of headings)")
        for field in ("answer", "evidence"):
            if not (isinstance(e[field], str) and e[field].strip()):
                raise ValueError(f"{where}: {field} must be a non-empty string")
        out.append(AlsoGold(e["article"], tuple(tuple(s) for s in secs), e["answer"], e["evidence"]))
    return tuple(out)


def load_questions(path: str | Path) -> list[Question]:
    """Read an eval file; every malformed line or duplicate id is an InvalidRequest naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"eval set {path} not found", code="invalid_eval_set", status=404)
    questions: list[Question] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{where}: not JSON ({exc.msg})", code="invalid_eval_set") from None
        q = parse_question(d, where)
        if q.id in seen:
            raise InvalidRequest(f"{where}: duplicate question id {q.id!r}", code="invalid_eval_set")
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise InvalidRequest(f"{path}: no questions", code="invalid_eval_set")
    return questions


def split_questions(questions: Sequence[Question], split: str) -> list[Question]:
    """The questions of one split. The rule is fixed: odd id number → `tune`, even → `heldout`.

    Ids are numbered in writing order and answerable questions come in runs by section, so parity
    stratifies by section and answerability; a new question never moves an old one between halves.
    """
    if split not in SPLITS:
        raise InvalidRequest(f"split must be one of {', '.join(SPLITS)}", code="invalid_split")
    if split == "all":
        return list(questions)
    return [q for q in questions if q.split == split]
