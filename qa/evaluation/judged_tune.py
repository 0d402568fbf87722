"""`qa tune --beir DIR`: choose mode and fusion weights on the user's own judgements (a dev or train split),
then report the test split for dense, lexical, hybrid as it was, and hybrid as tuned.

The hybrid grid is `qa tune`'s (qa/evaluation/tune.py) plus two one-sided fusions — dense alone and BM25
alone inside hybrid (the other list's weight 0, no sentence list, no article prior) — so on the split it is
chosen on, tuned hybrid is never below the better of dense and lexical. The objective is nDCG@10.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.evaluation.ir_runner import encode_queries, rank_documents
from qa.evaluation.judgements import Judgements
from qa.evaluation.measures import HEADLINE, evaluate
from qa.evaluation.tune import grid

if TYPE_CHECKING:
    from qa.search.retriever import Retriever

OBJECTIVE = "nDCG@10"
ONE_SIDED = (
    {"fusion": "rrf", "rrf_k": 60, "dense_weight": 1.0, "lexical_weight": 0.0, "sentence_weight": 0.0,
     "article_weight": 0.0, "max_overlap": 1.0},
    {"fusion": "rrf", "rrf_k": 60, "dense_weight": 0.0, "lexical_weight": 1.0, "sentence_weight": 0.0,
     "article_weight": 0.0, "max_overlap": 1.0},
)


def hybrid_grid() -> Iterator[dict[str, Any]]:
    yield from grid()
    yield from ONE_SIDED


@dataclass
class JudgedTuneResult:
    config: dict[str, Any]  # the chosen hybrid settings
    best_mode: str  # the best of dense / lexical / tuned hybrid on the tuning split
    tune: dict[str, dict[str, float]]  # split → mode row → measure → mean
    test: dict[str, dict[str, float]]
    tried: int
    tune_name: str
    test_name: str

    def to_json(self, source: str) -> dict[str, Any]:
        return self.config | {"tuned": {
            "judgements": source, "split": self.tune_name, "test_split": self.test_name,
            "objective": f"{OBJECTIVE} of documents (best passage), hybrid", "best_mode": self.best_mode,
            "metrics": {"tune": self.tune, "test": self.test}, "configs_tried": self.tried,
        }}


def _scores(retriever: Retriever, judgements: Judgements, mode: str, vectors: Any, depth: int) -> dict[str, float]:
    run = rank_documents(retriever, judgements.judged, mode, depth, vectors).run
    return evaluate(judgements.qrels, run, HEADLINE).means()


def tune_judged(retriever: Retriever, tune_set: Judgements, test_set: Judgements, depth: int = 100,
                log: Callable[[str], None] | None = None) -> JudgedTuneResult:
    """Grid search on `tune_set` (nDCG@10), figures on `test_set`; the retriever keeps its config as it was."""
    base = retriever.config
    vectors = encode_queries(retriever, tune_set.judged | test_set.judged)
    best: tuple[float, dict[str, Any], dict[str, float]] | None = None
    tried = 0
    try:
        for cand in hybrid_grid():
            tried += 1
            retriever.config = base.replace(**cand)
            scores = _scores(retriever, tune_set, "hybrid", vectors, depth)
            if best is None or scores[OBJECTIVE] > best[0] + 1e-9:
                best = (scores[OBJECTIVE], cand, scores)
                if log:
                    log(f"{scores[OBJECTIVE]:.4f} {cand}")
        assert best is not None  # the grid is never empty
        _, chosen, tuned_scores = best
        retriever.config = base
        tune_rows = {m: _scores(retriever, tune_set, m, vectors, depth) for m in ("dense", "lexical")}
        tune_rows["hybrid (tuned)"] = tuned_scores
        test_rows = {m: _scores(retriever, test_set, m, vectors, depth) for m in ("dense", "lexical")}
        test_rows["hybrid (as built)"] = _scores(retriever, test_set, "hybrid", vectors, depth)
        retriever.config = base.replace(**chosen)
        test_rows["hybrid (tuned)"] = _scores(retriever, test_set, "hybrid", vectors, depth)
    finally:
        retriever.config = base
    modes = {"dense": tune_rows["dense"], "lexical": tune_rows["lexical"], "hybrid": tuned_scores}
    best_mode = max(modes, key=lambda m: (modes[m][OBJECTIVE], m == "hybrid"))
    return JudgedTuneResult(chosen, best_mode, tune_rows, test_rows, tried, tune_set.name, test_set.name)
