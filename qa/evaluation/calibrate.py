"""Answerability calibration: fit `confidence` and its two edges on labelled questions over real indexes.

`qa tune --calibration-only` (and `eval/calibrate.py`, which fits the shipped calibration) runs here:

1. **Observe.** Each labelled set (questions over one index) is searched once in hybrid mode with reading;
   the search's `features` hold every signal — the reader's no-answer margins (`top_relevance`,
   `max_relevance`), the best sentence and passage cosines, BM25, the two retrievers' agreement — so one pass
   serves the models of every mode.
2. **Fit.** One logistic model per mode over that mode's features, **monotone**: every signal counts for
   answerability or not at all (a coefficient that comes out negative drops its feature and the model is
   refitted), so a corpus unlike the tuning data cannot turn a strong signal against itself. Each set weighs
   the same, however many questions it has, so the reader's large SQuAD-style dev split does not drown the
   hand-written sets.
3. **Edges.** `threshold` ("answered") is the highest confidence that keeps `recall` of the answerable
   questions in *every* set; `unsure` (below it: "not_answered") the highest that keeps `sure_recall`. So a
   corpus the model fits less well falls into "unsure" before it falls into a confident "no answer".
   Unless asked for one, `recall` is chosen by leaving each questions file out in turn (`choose_recall`):
   the smallest of `RECALL_CHOICES` whose fit on the other files still has `answered` keep `TARGET_RECALL`
   of the left-out file's answerable questions — what a corpus never fitted on will see.
4. **Report** per set: AUROC of confidence against off-topic and against near-topic questions, the same for
   the top passage's dense cosine alone (the floor confidence must reach), and the operating point (recall,
   share of off-topic / near-topic questions accepted, share of answerable ones called "not answered").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.evaluation.questions import Question
from qa.index.retrieval import Calibration
from qa.search.calibration import confidence as calibrated
from qa.stats import auroc, fit_logistic

# Each mode's signals. Reading ("read") adds the reader's margins to the best-sentence cosine: the cosine tells
# "about these articles" from "off topic", the reader tells "stated here" from "about the same events".
# `lexical_coverage` (the idf-weighted share of the question the best BM25 passage holds) stands in for the raw
# BM25 score where it can: the raw score grows with the corpus and does not transfer (docs/quality.md).
MODE_FEATURES: dict[str, tuple[str, ...]] = {
    "read": ("top_relevance", "max_relevance", "top_sentence", "gap_sentence", "top_dense", "agreement",
             "lexical_coverage"),
    "hybrid": ("top_sentence", "gap_sentence", "top_dense", "top_lexical", "gap_lexical", "agreement",
               "lexical_coverage"),
    "dense": ("top_dense", "gap_dense"),
    "lexical": ("top_lexical", "gap_lexical", "lexical_coverage"),
}
RECALL = 0.95  # answered: share of answerable questions at or above `threshold`, in every set
RECALL_CHOICES = (0.95, 0.96, 0.97, 0.98)  # what `choose_recall` tries, in order
TARGET_RECALL = 0.90  # the recall `answered` should keep on questions it was not fitted on
SURE_RECALL = 0.99  # not answered: share of answerable questions at or above `unsure`, in every set
MIN_ANSWERABLE, MIN_UNANSWERABLE = 20, 10  # below this a set is too small to fit on alone


@dataclass(frozen=True)
class Observation:
    """One labelled question searched once (hybrid, reading): its label and every signal."""

    set: str  # which labelled set (questions file over an index)
    id: str
    kind: str  # "answerable", "nearby" (near-topic, unanswerable) or "off-topic"
    features: Mapping[str, float]

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def kind(question: Question) -> str:
    """A restricted question's label: answerable, or which kind of unanswerable (untagged counts as nearby)."""
    if question.answerable:
        return "answerable"
    return "off-topic" if "off-topic" in question.tags else "nearby"


def observe(retriever, questions: Sequence[Question], set_name: str,
            log: Callable[[str], None] = lambda line: None) -> list[Observation]:
    """Search each question in hybrid mode, reading where a reader is installed; keep its features and its
    label for this index (gold restricted to the index's articles: `Question.for_index`)."""
    out = []
    ids = set(retriever.articles)
    questions = [q.for_index(ids) for q in questions]
    for i, q in enumerate(questions, 1):
        result = retriever.search(q.question, k=10, mode="hybrid", read=True)
        out.append(Observation(set_name, q.id, kind(q), dict(result.features)))
        if i % 100 == 0:
            log(f"  {set_name}: {i}/{len(questions)}")
    return out


def _weights(observations: Sequence[Observation]) -> np.ndarray:
    sizes: dict[str, int] = {}
    for o in observations:
        sizes[o.set] = sizes.get(o.set, 0) + 1
    return np.array([len(observations) / (len(sizes) * sizes[o.set]) for o in observations])


def matrix(observations: Sequence[Observation], features: Sequence[str]) -> np.ndarray:
    return np.array([[float(o.features.get(f, 0.0)) for f in features] for o in observations], dtype=np.float64)


def fit_monotone(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weighted ridge logistic regression whose coefficients are all ≥ 0: a feature whose coefficient comes
    out negative is dropped (coefficient 0) and the rest refitted, until none is negative."""
    keep = list(range(x.shape[1]))
    while keep:
        coef, intercept = fit_logistic(x[:, keep], y, l2=l2, sample_weight=weights)
        if (coef >= 0).all():
            full = np.zeros(x.shape[1])
            full[keep] = coef
            return full, intercept
        keep = [k for k, c in zip(keep, coef, strict=True) if c >= 0]
    return np.zeros(x.shape[1]), float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6)))


def edge(scores: np.ndarray, recall: float) -> float:
    """The highest threshold at which at least `recall` of `scores` (answerable questions) stay at or above it."""
    ordered = np.sort(scores)
    return float(ordered[math.floor((1.0 - recall) * len(ordered) + 1e-9)]) if len(ordered) else 1.01


def fit(observations: Sequence[Observation], mode: str, recall: float = RECALL,
        sure_recall: float = SURE_RECALL) -> Calibration:
    """One mode's calibration over all the sets (each weighs the same), with its two edges."""
    features = MODE_FEATURES[mode]
    x = matrix(observations, features)
    y = np.array([o.answerable for o in observations], dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError("calibration needs answerable and unanswerable questions")
    coef, intercept = fit_monotone(x, y, _weights(observations))
    kept = [(f, float(c)) for f, c in zip(features, coef, strict=True) if c > 0]
    calibration = Calibration(tuple(f for f, _ in kept), tuple(round(c, 5) for _, c in kept), round(intercept, 5))
    by_set = _by_set(observations)
    scores = {s: np.array([confidence(calibration, o.features) for o in obs if o.answerable])
              for s, obs in by_set.items()}
    threshold = _floor(min(edge(v, recall) for v in scores.values() if len(v)))
    unsure = _floor(min(edge(v, sure_recall) for v in scores.values() if len(v)))
    return Calibration(calibration.features, calibration.coef, calibration.intercept, threshold,
                       min(unsure, threshold))


def _floor(value: float, places: int = 5) -> float:
    """Rounded down, so the question at the edge stays on the side it was chosen for."""
    return math.floor(value * 10**places) / 10**places


def confidence(calibration: Calibration, features: Mapping[str, float]) -> float:
    """What search computes for these features (qa/search/calibration.py), for a typed calibration."""
    return calibrated(calibration.to_dict(), features)


def _by_set(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.set, []).append(o)
    return out


@dataclass(frozen=True)
class SetFigures:
    """How one calibration does on one labelled set."""

    questions: int
    answerable: int
    nearby: int
    off_topic: int
    auroc_off_topic: float | None  # confidence, answerable vs off-topic
    auroc_nearby: float | None  # confidence, answerable vs near-topic
    cosine_auroc_off_topic: float | None  # the top passage's dense cosine alone: the floor
    cosine_auroc_nearby: float | None
    recall: float | None  # answerable questions "answered"
    precision: float | None  # "answered" questions that are answerable (depends on the set's mix)
    accepted_off_topic: float | None  # off-topic questions "answered"
    accepted_nearby: float | None
    not_answered_answerable: float | None  # answerable questions called "not_answered" (the worst error)
    verdicts: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → verdict → share

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v)
                for k, v in self.__dict__.items()}


def _area(scores: np.ndarray, kinds: np.ndarray, negative: str) -> float | None:
    """AUROC of `scores`, answerable questions against one kind of unanswerable ones (None: a kind missing)."""
    pos, neg = kinds == "answerable", kinds == negative
    if not pos.any() or not neg.any():
        return None
    return auroc(np.r_[scores[pos], scores[neg]], np.r_[np.ones(pos.sum()), np.zeros(neg.sum())])


def _share(verdicts: np.ndarray, mask: np.ndarray, value: str) -> float | None:
    return float((verdicts[mask] == value).mean()) if mask.any() else None


def figures(observations: Sequence[Observation], calibration: Calibration) -> dict[str, SetFigures]:
    """Per set: AUROCs (confidence and cosine alone), the operating point, and the three-way verdict shares."""
    out = {}
    for name, obs in _by_set(observations).items():
        conf = np.array([confidence(calibration, o.features) for o in obs])
        cosine = np.array([float(o.features.get("top_dense", 0.0)) for o in obs])
        kinds = np.array([o.kind for o in obs])
        verdicts = np.array([calibration.verdict(c) for c in conf])
        pos, off, near = kinds == "answerable", kinds == "off-topic", kinds == "nearby"
        out[name] = SetFigures(
            questions=len(obs), answerable=int(pos.sum()), nearby=int(near.sum()), off_topic=int(off.sum()),
            auroc_off_topic=_area(conf, kinds, "off-topic"), auroc_nearby=_area(conf, kinds, "nearby"),
            cosine_auroc_off_topic=_area(cosine, kinds, "off-topic"),
            cosine_auroc_nearby=_area(cosine, kinds, "nearby"),
            recall=_share(verdicts, pos, "answered"),
            precision=float(pos[verdicts == "answered"].mean()) if (verdicts == "answered").any() else None,
            accepted_off_topic=_share(verdicts, off, "answered"),
            accepted_nearby=_share(verdicts, near, "answered"),
            not_answered_answerable=_share(verdicts, pos, "not_answered"),
            verdicts={k: {v: round(float((verdicts[kinds == k] == v).mean()), 4)
                          for v in ("answered", "unsure", "not_answered")}
                      for k in ("answerable", "nearby", "off-topic") if (kinds == k).any()},
        )
    return out


def reliability(observations: Sequence[Observation], calibration: Calibration,
                bins: int = 10) -> list[dict[str, float]]:
    """Predicted vs observed: per confidence bin, the mean confidence and the share that was answerable."""
    conf = np.array([confidence(calibration, o.features) for o in observations])
    y = np.array([o.answerable for o in observations], dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if inside.any():
            rows.append({"low": float(lo), "high": float(hi), "predicted": float(conf[inside].mean()),
                         "observed": float(y[inside].mean()), "count": int(inside.sum())})
    return rows


def check_sizes(observations: Sequence[Observation]) -> None:
    """Refuse to fit on too little: each mode's model needs both classes in reasonable numbers."""
    answerable = sum(o.answerable for o in observations)
    unanswerable = len(observations) - answerable
    if answerable < MIN_ANSWERABLE or unanswerable < MIN_UNANSWERABLE:
        raise ValueError(f"calibration needs at least {MIN_ANSWERABLE} answerable and {MIN_UNANSWERABLE} "
                         f"unanswerable questions; got {answerable} and {unanswerable}")


@dataclass(frozen=True)
class Fitted:
    """What `qa tune --calibration-only` found: one calibration per mode and how "read" does on each set."""

    calibrations: dict[str, Calibration]
    figures: dict[str, SetFigures]  # per set, for the `read` calibration (the default: search reads)
    reliability: list[dict[str, float]]  # `read`, over all the sets together
    recall: dict[str, float] = field(default_factory=dict)  # per mode, the recall its threshold keeps
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)  # per mode: questions file → recall left out

    def held_out_json(self) -> dict[str, dict[str, float]]:
        """Per mode that chose its recall: questions file → recall with that file left out, rounded."""
        return {m: {k: round(v, 4) for k, v in h.items()} for m, h in self.held_out.items() if h}

    def to_json(self, sets: Sequence[str], sure_recall: float) -> dict:
        return {
            "sets": list(sets),
            "recall": self.recall,
            "held_out_recall": self.held_out_json(),
            "sure_recall": sure_recall,
            "figures": {name: f.to_dict() for name, f in self.figures.items()},
            "reliability": self.reliability,
        }


def source(set_name: str) -> str:
    """The questions file a set comes from: "frontlines-tune on frontlines" → "frontlines-tune"."""
    return set_name.split(" on ", 1)[0]


def held_out_recall(observations: Sequence[Observation], mode: str, recall: float) -> dict[str, float]:
    """Per questions file: fit `mode` on the other files' sets with this `recall`, and the share of the
    left-out file's answerable questions (over each of its indexes) that the fit calls `answered`."""
    out = {}
    for name in dict.fromkeys(source(o.set) for o in observations):
        rest = [o for o in observations if source(o.set) != name]
        left = [o.features for o in observations if source(o.set) == name and o.answerable]
        if not left or all(o.answerable for o in rest) or not any(o.answerable for o in rest):
            continue
        calibration = fit(rest, mode, recall)
        out[name] = float(np.mean([confidence(calibration, f) >= calibration.threshold for f in left]))
    return out


def choose_recall(observations: Sequence[Observation], mode: str, target: float = TARGET_RECALL,
                  choices: Sequence[float] = RECALL_CHOICES) -> tuple[float, dict[str, float]]:
    """The smallest of `choices` whose threshold keeps `target` recall on every questions file left out of the
    fit (the largest choice when none does), with those held-out recalls. With fewer than two questions
    files nothing can be left out: `RECALL`."""
    if len({source(o.set) for o in observations}) < 2:
        return RECALL, {}
    held: dict[str, float] = {}
    for recall in choices:
        held = held_out_recall(observations, mode, recall)
        if held and min(held.values()) >= target:
            return recall, held
    return choices[-1], held


def fit_all(observations: Sequence[Observation], recall: float | None = None,
            sure_recall: float = SURE_RECALL) -> Fitted:
    """Every mode's calibration from one set of observations, and the figures of `read` on them. `recall`
    None: each mode's chosen by `choose_recall`."""
    check_sizes(observations)
    chosen = {mode: (recall, {}) if recall is not None else choose_recall(observations, mode)
              for mode in MODE_FEATURES}
    calibrations = {mode: fit(observations, mode, chosen[mode][0], sure_recall) for mode in MODE_FEATURES}
    return Fitted(calibrations, figures(observations, calibrations["read"]),
                  reliability(observations, calibrations["read"]),
                  {mode: r for mode, (r, _) in chosen.items()}, {mode: h for mode, (_, h) in chosen.items()})


def format_figures(part: Mapping[str, SetFigures]) -> list[str]:
    """A plain table of per-set figures, one line a set (cosine alone in brackets)."""
    def f(value: float | None) -> str:
        return "   –  " if value is None else f"{value:6.3f}"

    header = (f"{'set':36} {'ans':>4} {'near':>4} {'off':>4}  AUROC off (cosine)  AUROC near (cosine)  recall  "
              "precision  off acc.  near acc.  'no' on ans.")
    lines = [header]
    for name, x in part.items():
        lines.append(f"{name[:36]:36} {x.answerable:4d} {x.nearby:4d} {x.off_topic:4d}  {f(x.auroc_off_topic)} "
                     f"({f(x.cosine_auroc_off_topic)})    {f(x.auroc_nearby)} ({f(x.cosine_auroc_nearby)})  "
                     f"{f(x.recall)}  {f(x.precision)}     {f(x.accepted_off_topic)}    {f(x.accepted_nearby)}     "
                     f"{f(x.not_answered_answerable)}")
    return lines
