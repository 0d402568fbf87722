"""The eval set: one JSON question a line (DESIGN.md "Eval set"), and the fixed tuning / held-out split."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InvalidRequest

SPLITS = ("all", "tune", "heldout")
_ID_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Question:
    """A hand-written question with its gold: article id + section paths (+ answer text)."""

    id: str
    question: str
    article: str | None
    sections: tuple[tuple[str, ...], ...]
    answer: str | None
    tags: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.sections)

    @property
    def gold_sections(self) -> frozenset[tuple[str, tuple[str, ...]]]:
        """Section keys `(article_id, section_path)` any of which holds the answer."""
        return frozenset((self.article, s) for s in self.sections) if self.article else frozenset()

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
    except (KeyError, ValueError) as exc:
        raise InvalidRequest(f"{where}: {exc}", code="invalid_eval_set") from None
    return Question(
        id=qid,
        question=text,
        article=article if sections else (article or None),
        sections=tuple(tuple(s) for s in sections),
        answer=answer if sections else None,
        tags=tuple(tags),
    )


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
