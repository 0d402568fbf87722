"""Relevance judgements in the field's formats: BEIR folders, queries files and TREC / BEIR qrels.

Ids in whitespace-separated (TREC) files are percent-decoded (qa/evaluation/runs.py); tab-separated BEIR
fields are taken as they are. A BEIR folder holds `corpus.jsonl`, `queries.jsonl` (`{"_id", "text"}` a line) and `qrels/<split>.tsv`
(`query-id<TAB>corpus-id<TAB>score`, a header line first). TREC qrels are `qid iteration docid relevance`,
whitespace-separated. Relevance is graded (an integer; ≤ 0 is not relevant). Ids are kept exactly; a
malformed line is an error naming file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InvalidRequest
from qa.evaluation.runs import decode_id

Qrels = dict[str, dict[str, int]]  # query id → document id → graded relevance


@dataclass(frozen=True)
class Judgements:
    """Queries (id → text) and their qrels, as one eval set."""

    name: str
    queries: dict[str, str]
    qrels: Qrels

    @property
    def judged(self) -> dict[str, str]:
        """The queries with at least one relevant document (the ones trec_eval averages over)."""
        return {q: t for q, t in self.queries.items() if any(r > 0 for r in self.qrels.get(q, {}).values())}


def load_beir(folder: Path, split: str = "test") -> Judgements:
    """A BEIR dataset folder's queries and `qrels/<split>.tsv`, restricted to the judged queries of the split."""
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise InvalidRequest(f"{qrels_file} not found (splits here: {', '.join(have) or 'none'})", code="no_qrels")
    return load(folder / "queries.jsonl", qrels_file, name=f"{folder.name}-{split}")


def load(queries_file: Path, qrels_file: Path, name: str | None = None) -> Judgements:
    """Queries and qrels files; only queries that have judgements are kept (in queries-file order)."""
    queries = load_queries(queries_file)
    qrels = load_qrels(qrels_file)
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InvalidRequest(f"{qrels_file}: {len(missing)} judged query id(s) not in {queries_file}, e.g. "
                             f"{missing[0]!r}", code="bad_qrels")
    kept = {q: t for q, t in queries.items() if q in qrels}
    return Judgements(name or qrels_file.stem, kept, qrels)


def load_queries(path: Path) -> dict[str, str]:
    """BEIR `queries.jsonl` (`{"_id", "text"}`) or a TSV of `id<TAB>text`."""
    out: dict[str, str] = {}
    for number, line in _lines(path):
        if path.suffix == ".jsonl" or line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _bad(path, number, f"not JSON: {exc.msg}") from None
            qid = record.get("_id", record.get("id")) if isinstance(record, dict) else None
            text = record.get("text", record.get("query")) if isinstance(record, dict) else None
        else:
            qid, _, text = line.partition("\t")
        if qid is None or not str(qid).strip() or not isinstance(text, str) or not text.strip():
            raise _bad(path, number, "a query needs an `_id` and a non-empty `text`")
        if str(qid) in out:
            raise _bad(path, number, f"repeated query id {qid!r}")
        out[str(qid)] = text.strip()
    return out


def load_qrels(path: Path) -> Qrels:
    """BEIR qrels TSV (`query-id corpus-id score`, header optional) or TREC qrels (`qid 0 docid rel`)."""
    out: Qrels = {}
    for number, line in _lines(path):
        tabbed = "\t" in line
        # whitespace-separated (TREC) fields carry whitespace and % percent-encoded, as qa writes them (runs.py)
        parts = line.split("\t") if tabbed else [decode_id(p) for p in line.split()]
        if number == 1 and len(parts) >= 3 and not _is_int(parts[-1]):
            continue  # the BEIR header: query-id corpus-id score
        if len(parts) == 4:
            qid, _, docid, rel = parts
        elif len(parts) == 3:
            qid, docid, rel = parts
        else:
            raise _bad(path, number, f"expected `qid 0 docid rel` or `qid docid rel`, got {len(parts)} fields")
        if not _is_int(rel):
            raise _bad(path, number, f"relevance must be an integer, got {rel!r}")
        qrel = out.setdefault(qid.strip(), {})
        qrel[docid.strip()] = int(rel)
    if not out:
        raise InvalidRequest(f"{path}: no judgements", code="bad_qrels")
    return out


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}", code="bad_qrels") from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{path}: not UTF-8 text ({exc.reason})", code="bad_qrels") from None
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _bad(path: Path, line: int, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{path}:{line}: {reason}", code="bad_qrels")
