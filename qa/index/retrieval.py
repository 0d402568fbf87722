"""The tuned settings an index is searched with, typed: `RetrievalConfig`, read from the manifest.

One record, one file: `qa tune` (fusion and ranking), `qa tune --calibration-only` (answerability) and
`qa tune-reader` (the read stage: `ReadConfig`) each write their part of `eval/retrieval.json`
(`QA_RETRIEVAL_FILE`), `qa build` copies that file into the manifest's `retrieval`, and
`RetrievalConfig.from_manifest` reads it back; a key the manifest lacks takes the default below (a copy of
eval/retrieval.json; tests/test_ranking.py checks they agree). Values are converted here, at the edge, so
the search stages read typed fields; `Settings` overrides (`QA_READER_PASSAGES`, `QA_ANSWER_THRESHOLD`, …)
are applied on load by `with_read` / `with_edges`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MODES = ("hybrid", "dense", "lexical")
# every calibrated judgement: one per retrieval mode, and "read" (any mode where the reader read)
CALIBRATED = (*MODES, "read")


@dataclass(frozen=True)
class Calibration:
    """One mode's answerability model: σ(intercept + Σ coef·feature), answerable at ≥ threshold.

    Two edges split confidence three ways (`verdict`): "answered" at ≥ `threshold`, "not_answered" below
    `unsure`, and "unsure" between them, so a corpus the model does not fit well gets "unsure" rather than
    a confident "no answer". `unsure` None (a model from before the band) means no band: `unsure` = threshold.
    """

    features: tuple[str, ...] = ()
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    threshold: float = 1.01  # above 1: never answerable (a mode without a model)
    unsure: float | None = None  # lower edge of the "unsure" band; None: no band

    def verdict(self, confidence: float, has_hits: bool = True) -> str:
        """ "answered", "unsure" or "not_answered" for a confidence (no hits: "not_answered")."""
        if not has_hits:
            return "not_answered"
        if confidence >= self.threshold:
            return "answered"
        return "unsure" if confidence >= self.lower else "not_answered"

    @property
    def lower(self) -> float:
        return min(self.unsure, self.threshold) if self.unsure is not None else self.threshold

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        return cls(
            features=tuple(str(f) for f in d.get("features", ())),
            coef=tuple(float(c) for c in d.get("coef", ())),
            intercept=float(d.get("intercept", 0.0)),
            threshold=float(d.get("threshold", 1.01)),
            unsure=float(d["unsure"]) if d.get("unsure") is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"features": list(self.features), "coef": list(self.coef), "intercept": self.intercept,
               "threshold": self.threshold}
        return out | ({"unsure": self.unsure} if self.unsure is not None else {})


RANK_PENALTY_NAMES = ("linear", "log")  # the read stage's fused-rank penalties (qa/search/reading.py)


@dataclass(frozen=True)
class ReadConfig:
    """The read stage's settings, chosen by `qa tune-reader` on the reader's dev split (defaults: the shipped
    eval/retrieval.json's `read`)."""

    passages: int = 3  # how many of the fused top passages the reader reads
    rank_weight: float = 2.0  # reader relevance lost per step down the fused order
    rank_penalty: str = "linear"  # the step: "linear" (rank − 1) or "log" (ln rank)
    window_chars: int = 450  # read whole sentences around the highlight, up to this many characters; 0 = all

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReadConfig:
        base = cls()
        penalty = str(d.get("rank_penalty", base.rank_penalty))
        if penalty not in RANK_PENALTY_NAMES:
            raise ValueError(f"unknown rank_penalty {penalty!r}: one of {', '.join(RANK_PENALTY_NAMES)}")
        passages, window = int(d.get("passages", base.passages)), int(d.get("window_chars", base.window_chars))
        if not 1 <= passages <= 50 or window < 0:
            raise ValueError(f"read: passages must be 1-50 and window_chars ≥ 0 (got {passages}, {window})")
        return cls(passages, float(d.get("rank_weight", base.rank_weight)), penalty, window)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# a copy of eval/retrieval.json's `calibrations` (made by eval/calibrate.py; tests/test_ranking.py checks they agree)
DEFAULT_CALIBRATIONS = {
    "hybrid": Calibration(("top_sentence", "gap_sentence", "agreement", "lexical_coverage"),
                          (7.50375, 1.86447, 1.21539, 3.30822), -6.08768, 0.36758, 0.20468),
    "dense": Calibration(("top_dense", "gap_dense"),
                         (7.99132, 1.59575), -3.78007, 0.25566, 0.25566),
    "lexical": Calibration(("lexical_coverage",),
                           (5.72542,), -2.1829, 0.37283, 0.29742),
    "read": Calibration(("top_relevance", "top_sentence", "gap_sentence", "top_dense", "agreement", "lexical_coverage"),
                        (0.22525, 3.3338, 0.30729, 0.88728, 1.4683, 1.68389), -3.81319, 0.26269, 0.11858),
}


@dataclass(frozen=True)
class RetrievalConfig:
    """Fusion, ranking and answerability settings (defaults: the tuned eval/retrieval.json)."""

    fusion: Literal["rrf", "weighted"] = "rrf"  # weighted: alpha · minmax dense + (1 − alpha) · minmax BM25
    rrf_k: int = 20
    dense_weight: float = 0.4
    lexical_weight: float = 1.0
    alpha: float = 0.5
    candidates: int = 50  # from each retriever, before fusion
    article_weight: float = 0.5  # article prior (qa/search/ranking.py), chosen by `qa tune`
    max_overlap: float = 1.0  # collapse passages overlapping more than this (1.0 = off; tried, no gain)
    sentence_weight: float = 0.5  # RRF weight of the best-sentence ranking (qa/embed/sentences.py); 0 = off
    calibrations: Mapping[str, Calibration] = field(default_factory=lambda: dict(DEFAULT_CALIBRATIONS))
    read: ReadConfig = field(default_factory=ReadConfig)  # the read stage (`qa tune-reader`)

    @classmethod
    def from_manifest(cls, retrieval: Mapping[str, Any]) -> RetrievalConfig:
        """The manifest's `retrieval` over the defaults. Per-mode models live under `calibrations` (a mode
        missing there is never answerable); a manifest from before them carries one model under
        `calibration` + `threshold`, which is the hybrid one. A manifest without a `read` model (built before
        it existed) reads with the shipped one; one without `read` reads with the shipped read settings."""
        defaults = {m: c.to_dict() for m, c in DEFAULT_CALIBRATIONS.items()}
        merged = {"calibrations": defaults} | dict(retrieval)
        if "calibrations" not in retrieval and "calibration" in retrieval:
            merged["calibrations"] = defaults | {"hybrid": for_mode(retrieval, "hybrid")}
        if isinstance(merged["calibrations"], Mapping) and "read" not in merged["calibrations"]:
            merged["calibrations"] = dict(merged["calibrations"]) | {"read": defaults["read"]}
        calibrations = {m: Calibration.from_dict(for_mode(merged, m)) for m in CALIBRATED}
        read = ReadConfig.from_dict(retrieval.get("read") or {})
        return cls().replace(**{k: v for k, v in retrieval.items() if k in _SCALARS}, calibrations=calibrations,
                             read=read)

    def replace(self, **changes: Any) -> RetrievalConfig:
        """A copy with `changes` (converted to the fields' types), as `qa tune` tries settings."""
        typed = {k: _SCALARS[k](v) if k in _SCALARS else v for k, v in changes.items()}
        if typed.get("fusion", self.fusion) not in ("rrf", "weighted"):
            raise ValueError(f"unknown fusion {typed['fusion']!r}: use rrf or weighted")
        return dataclasses.replace(self, **typed)

    def with_edges(self, answered: float | None = None, unsure: float | None = None) -> RetrievalConfig:
        """Every calibration with its `answered` threshold and/or `unsure` edge moved (QA_ANSWER_THRESHOLD,
        QA_UNSURE_THRESHOLD); None keeps the calibrated one."""
        if answered is None and unsure is None:
            return self
        moved = {m: dataclasses.replace(c, threshold=c.threshold if answered is None else answered,
                                        unsure=c.unsure if unsure is None else unsure)
                 for m, c in self.calibrations.items()}
        return dataclasses.replace(self, calibrations=moved)

    def with_read(self, passages: int | None = None, window_chars: int | None = None) -> RetrievalConfig:
        """The read settings with `QA_READER_PASSAGES` / `QA_READER_WINDOW` applied; None keeps the tuned one."""
        if passages is None and window_chars is None:
            return self
        read = ReadConfig(passages if passages is not None else self.read.passages, self.read.rank_weight,
                          self.read.rank_penalty, window_chars if window_chars is not None else self.read.window_chars)
        return dataclasses.replace(self, read=read)

    def calibration(self, mode: str) -> Calibration:
        return self.calibrations.get(mode, Calibration())

    def to_dict(self) -> dict[str, Any]:
        """The manifest / eval-report form."""
        return {k: getattr(self, k) for k in _SCALARS} | {
            "calibrations": {m: c.to_dict() for m, c in self.calibrations.items()},
            "read": self.read.to_dict(),
        }


def for_mode(retrieval: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """The calibration (features, coef, intercept, threshold) for `mode` from a manifest's `retrieval`.

    Per-mode models live under `calibrations`; a legacy single model (`calibration` + `threshold`) is the
    hybrid one. A mode with neither gets a model that never marks anything answerable (confidence 0.5,
    threshold above 1), rather than borrowing another mode's features.
    """
    per_mode = retrieval.get("calibrations")
    if isinstance(per_mode, Mapping) and isinstance(per_mode.get(mode), Mapping):
        return dict(per_mode[mode])
    if mode == "hybrid" and isinstance(retrieval.get("calibration"), Mapping):
        return dict(retrieval["calibration"]) | {"threshold": float(retrieval.get("threshold", 0.5))}
    return {"features": [], "coef": [], "intercept": 0.0, "threshold": 1.01}


_SCALARS: dict[str, Any] = {
    "fusion": str, "rrf_k": int, "dense_weight": float, "lexical_weight": float, "alpha": float,
    "candidates": int, "article_weight": float, "max_overlap": float, "sentence_weight": float,
}
