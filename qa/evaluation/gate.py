"""Regression gate: compare a run with a saved baseline run, metric by metric and question by question."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.evaluation.report import LATENCY_METRICS, EvalReport, QuestionResult


@dataclass(frozen=True)
class MetricDelta:
    mode: str
    metric: str
    baseline: float | None
    current: float | None
    regressed: bool  # dropped by more than the tolerance, or became undefined

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline


@dataclass(frozen=True)
class QuestionChange:
    """A question whose outcome flipped: `what` is `found@K` (a gold section in the top K) or `answerable`
    (the answerable flag agrees with the gold); `before`/`after` say whether it was right."""

    mode: str
    id: str
    what: str
    before: bool
    after: bool
    rank_before: int | None
    rank_after: int | None

    @property
    def lost(self) -> bool:
        return self.before and not self.after


@dataclass(frozen=True)
class Comparison:
    tolerance: float
    found_at: int
    metrics: list[MetricDelta]
    changes: list[QuestionChange]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.metrics if d.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions

    @property
    def lost(self) -> list[QuestionChange]:
        return [c for c in self.changes if c.lost]

    @property
    def gained(self) -> list[QuestionChange]:
        return [c for c in self.changes if not c.lost]


def compare(current: EvalReport, baseline: EvalReport, tolerance: float = 0.02, found_at: int = 5) -> Comparison:
    """Every headline metric (latencies excepted: they measure the machine) of every mode in both runs;
    a metric regresses when it drops by more than `tolerance` or becomes undefined.
    """
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    notes: list[str] = []
    if current.index.get("corpus_hash") != baseline.index.get("corpus_hash"):
        notes.append("the baseline was run over a different corpus: differences may come from the index")
    changed = sorted(
        key for key in current.retrieval.keys() | baseline.retrieval.keys()
        if key != "tuned" and current.retrieval.get(key) != baseline.retrieval.get(key)
    )
    if changed:
        notes.append(
            f"retrieval settings differ from the baseline's ({', '.join(changed)}): if the change is intended, "
            "accept it with `qa eval --save-baseline FILE`"
        )
    if current.arithmetic and baseline.arithmetic and current.arithmetic != baseline.arithmetic:
        notes.append(
            f"the baseline was computed otherwise ({baseline.arithmetic}; now {current.arithmetic}): near-ties in "
            "ranking and confidences near a threshold can move by the arithmetic alone, with the same code and "
            "data; compare on a machine like the baseline's, or save a baseline on this one"
        )
    if current.split != baseline.split:
        notes.append(f"splits differ: baseline {baseline.split!r}, now {current.split!r}")
    ids_now = {q.id for q in current.questions}
    ids_then = {q.id for q in baseline.questions}
    if ids_now != ids_then:
        notes.append(
            f"question sets differ: {len(ids_now - ids_then)} new, {len(ids_then - ids_now)} gone; "
            "metrics compare different sets, question changes cover the common ones"
        )
    answerable = {q.id: q.answerable for q in current.questions}
    deltas: list[MetricDelta] = []
    changes: list[QuestionChange] = []
    for mode, then in baseline.modes.items():
        now = current.modes.get(mode)
        if now is None:
            notes.append(f"mode {mode} is in the baseline but was not run")
            continue
        for name, before in then.metrics.items():
            if name in LATENCY_METRICS or before is None:
                continue
            after = now.metrics.get(name)
            regressed = after is None or before - after > tolerance + 1e-12
            deltas.append(MetricDelta(mode, name, before, after, regressed))
        changes += _question_changes(mode, then.by_id(), now.by_id(), answerable, found_at)
    for mode in current.modes:
        if mode not in baseline.modes:
            notes.append(f"mode {mode} has no baseline")
    return Comparison(tolerance=tolerance, found_at=found_at, metrics=deltas, changes=changes, notes=notes)


def _question_changes(
    mode: str,
    then: dict[str, QuestionResult],
    now: dict[str, QuestionResult],
    answerable: dict[str, bool],
    found_at: int,
) -> list[QuestionChange]:
    out: list[QuestionChange] = []
    for qid in sorted(then.keys() & now.keys()):
        a, b = then[qid], now[qid]
        if answerable[qid] and a.found(found_at) != b.found(found_at):
            out.append(QuestionChange(mode, qid, f"found@{found_at}", a.found(found_at), b.found(found_at),
                                      a.section_rank, b.section_rank))
        right_then = a.predicted_answerable == answerable[qid]
        right_now = b.predicted_answerable == answerable[qid]
        if right_then != right_now:
            out.append(QuestionChange(mode, qid, "answerable", right_then, right_now, a.section_rank, b.section_rank))
    return out
