"""Typed eval results and their JSON form. Field and metric names are stable: tuning scripts and the
regression gate read them (bump REPORT_VERSION when one changes meaning).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import InvalidRequest

REPORT_VERSION = 1
KS = (1, 3, 5, 10)
# Higher is better for every headline metric except the latencies, which are reported but never gated
# (they depend on the machine, not the code).
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms")


def headline_names(ks: tuple[int, ...] = KS) -> list[str]:
    """Headline metric names, in display order."""
    names: list[str] = []
    for level in ("section", "article"):
        names += [f"{level}_recall@{k}" for k in ks] + [f"{level}_mrr@{max(ks)}", f"{level}_ndcg@{max(ks)}"]
    names += [f"answer_in_passage@{k}" for k in ks]
    names += ["answer_f1", "answer_exact_match", "answer_holds_gold"]
    names += ["answerability_auroc", "answerable_precision", "answerable_recall"]
    # the three-way verdict, all higher-is-better so the gate reads them like the rest: confidence AUROC of
    # answerable vs off-topic / near-topic questions, the shares of those two kinds not called "answered", and
    # the share of answerable questions not called "not_answered"
    names += ["auroc_off_topic", "auroc_nearby", "rejected_off_topic", "rejected_nearby", "answerable_not_denied",
              *LATENCY_METRICS]
    return names


@dataclass(frozen=True)
class HitRecord:
    """One returned passage, reduced to what the metrics and reports need."""

    rank: int
    article: str
    section: tuple[str, ...]
    score: float
    dense: float | None
    lexical: float | None
    has_answer: bool | None  # answer text in this passage; None for an unanswerable question
    reader: float | None = None  # the reader's relevance (span − no-answer logit) where it read this passage


@dataclass(frozen=True)
class QuestionResult:
    """How one mode did on one question. Ranks are 1-based; None = not in the top k."""

    id: str
    section_rank: int | None
    article_rank: int | None
    answer_rank: int | None
    confidence: float
    predicted_answerable: bool
    latency_ms: float
    top_citation: str | None
    hits: tuple[HitRecord, ...] = ()
    answer: str | None = None  # the reader's answer; without reading, the first result's highlighted sentence
    answerability: str = ""  # the verdict: "answered", "unsure" or "not_answered" ("" in reports from before it)

    def found(self, k: int) -> bool:
        """A gold section is within the top k."""
        return self.section_rank is not None and self.section_rank <= k


@dataclass(frozen=True)
class ModeReport:
    mode: str
    metrics: dict[str, float | None]
    tags: dict[str, dict[str, float | None]]
    questions: list[QuestionResult]

    def by_id(self) -> dict[str, QuestionResult]:
        return {r.id: r for r in self.questions}


@dataclass(frozen=True)
class QuestionInfo:
    """The question as asked, with its gold (copied into the report so it reads on its own)."""

    id: str
    question: str
    answerable: bool
    article: str | None
    sections: tuple[tuple[str, ...], ...]
    answer: str | None
    tags: tuple[str, ...]
    split: str
    # Gold in other articles present in the index: {"article", "sections", "answer"} each (eval set `also`)
    also: tuple[dict[str, Any], ...] = ()

    def gold_keys(self) -> frozenset[tuple[str, tuple[str, ...]]]:
        """Every gold section key `(article, section_path)`: the main article's and the `also` ones."""
        main = {(self.article, tuple(s)) for s in self.sections} if self.article else set()
        return frozenset(main | {(a["article"], tuple(s)) for a in self.also for s in a["sections"]})


@dataclass(frozen=True)
class EvalReport:
    created_at: str
    questions_file: str
    split: str
    k: int
    index: dict[str, Any]
    retrieval: dict[str, Any]  # the Retriever's config (fusion, calibration, threshold) during the run
    latency_includes_embedding: bool
    questions: list[QuestionInfo]
    modes: dict[str, ModeReport]
    version: int = REPORT_VERSION
    notes: list[str] = field(default_factory=list)
    # what computed the vectors and the reader's logits, and the CPU features that change low-precision results
    # ("" in reports written before it was recorded): `qa.evaluation.runner.arithmetic`
    arithmetic: str = ""

    def to_dict(self, hits: bool = True) -> dict[str, Any]:
        """The JSON form; `hits=False` leaves out the returned passages (ranks and scores stay)."""
        d = asdict(self)
        if not hits:
            for mode in d["modes"].values():
                for q in mode["questions"]:
                    q["hits"] = []
        return d

    def save(self, path: str | Path, hits: bool = True) -> Path:
        """Write the JSON form atomically. Without hits (a baseline) it is small and indented for diffs."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        data = self.to_dict(hits=hits)
        text = json.dumps(data, ensure_ascii=False, indent=1) if not hits else json.dumps(data, ensure_ascii=False)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        if d.get("version") != REPORT_VERSION:
            raise InvalidRequest(
                f"eval report version {d.get('version')!r}, this qa reads version {REPORT_VERSION}: "
                "re-run `qa eval --json FILE` to write a new one",
                code="invalid_report",
            )
        modes = {
            name: ModeReport(
                mode=m["mode"],
                metrics=dict(m["metrics"]),
                tags={t: dict(v) for t, v in m["tags"].items()},
                questions=[_question_result(q) for q in m["questions"]],
            )
            for name, m in d["modes"].items()
        }
        questions = [
            QuestionInfo(**(q | {"sections": tuple(tuple(s) for s in q["sections"]), "tags": tuple(q["tags"]),
                                 "also": tuple(a | {"sections": tuple(tuple(s) for s in a["sections"])}
                                               for a in q.get("also", ()))}))
            for q in d["questions"]
        ]
        return cls(
            created_at=d["created_at"],
            questions_file=d["questions_file"],
            split=d["split"],
            k=d["k"],
            index=d["index"],
            retrieval=d["retrieval"],
            latency_includes_embedding=d["latency_includes_embedding"],
            questions=questions,
            modes=modes,
            version=d["version"],
            notes=list(d.get("notes", [])),
            arithmetic=d.get("arithmetic", ""),
        )

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidRequest(f"report {path} not found", code="invalid_report", status=404) from None
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}: not JSON ({exc.msg})", code="invalid_report") from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError) as exc:
            raise InvalidRequest(f"{path}: not an eval report ({exc})", code="invalid_report") from None


def _question_result(q: dict[str, Any]) -> QuestionResult:
    hits = tuple(HitRecord(**(h | {"section": tuple(h["section"])})) for h in q.get("hits", []))
    return QuestionResult(**(q | {"hits": hits}))
