"""TREC run files: `qid Q0 docid rank score tag`, one retrieved document a line, best first per query.

trec_eval orders a query's documents by score (ties: by docid, descending), not by the rank column, so
`write_run` writes scores that fall strictly with rank (a tie is nudged down by 1e-6). Fields are
whitespace-separated, so whitespace and `%` inside an id are written percent-encoded (`%20`, `%09`, `%25`)
and decoded again by `read_run`; any other character (`/`, Unicode) is written as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from qa.errors import InvalidRequest

Ranking = list[tuple[str, float]]  # (document id, score), best first
Run = dict[str, Ranking]  # query id → its ranking

_ENCODE = re.compile(r"[%\s]")
_DECODE = re.compile(r"%([0-9A-Fa-f]{2})")


def encode_id(value: str) -> str:
    """An id as a run/qrels field: whitespace and `%` percent-encoded."""
    return _ENCODE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), value)


def decode_id(field: str) -> str:
    return _DECODE.sub(lambda m: chr(int(m.group(1), 16)), field) if "%" in field else field


def ordered(ranking: Sequence[tuple[str, float]]) -> Ranking:
    """A ranking in trec_eval's order: score descending, ties by docid descending."""
    return sorted(ranking, key=lambda pair: (pair[1], pair[0]), reverse=True)


def strictly_falling(ranking: Sequence[tuple[str, float]]) -> Ranking:
    """The ranking with scores rounded to 6 decimals and nudged so each is below the one before: any tool
    that orders by score then keeps exactly this order."""
    out: Ranking = []
    for docid, score in ranking:
        value = round(float(score), 6)
        if out and value >= out[-1][1]:
            value = round(out[-1][1] - 1e-6, 6)
        out.append((docid, value))
    return out


def write_run(path: Path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> Path:
    """Write `run` (each ranking best first) as a TREC run file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = encode_id(tag) or "qa"
    lines = [
        f"{encode_id(qid)} Q0 {encode_id(docid)} {rank} {score:.6f} {tag}"
        for qid, ranking in run.items()
        for rank, (docid, score) in enumerate(strictly_falling(ranking), 1)
    ]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def read_run(path: Path) -> Run:
    """A TREC run file, each query's ranking in trec_eval's order (score, then docid, descending)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read run file {path}: {exc}", code="bad_run") from None
    run: dict[str, dict[str, float]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            raise InvalidRequest(f"{path}:{number}: expected `qid Q0 docid rank score tag`, got {len(parts)} fields",
                                 code="bad_run")
        try:
            score = float(parts[4])
        except ValueError:
            raise InvalidRequest(f"{path}:{number}: score {parts[4]!r} is not a number", code="bad_run") from None
        qid, docid = decode_id(parts[0]), decode_id(parts[2])
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise InvalidRequest(f"{path}:{number}: document {docid!r} listed twice for query {qid!r}",
                                 code="bad_run")
        docs[docid] = score
    return {qid: ordered(list(docs.items())) for qid, docs in run.items()}


def write_qrels(path: Path, qrels: Mapping[str, Mapping[str, int]]) -> Path:
    """TREC qrels (`qid 0 docid rel`), ids encoded as in run files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{encode_id(q)} 0 {encode_id(d)} {rel}" for q, docs in qrels.items() for d, rel in docs.items()]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path
