"""Stage `fuse`: the candidate lists made one ranking — RRF (with the best-sentence ranking as a third list)
or weighted min-max, then the article prior and, if set, the overlap collapse."""

from __future__ import annotations

import dataclasses

import numpy as np

from qa.search.fusion import rrf, weighted
from qa.search.ranking import article_prior, collapse_overlaps
from qa.search.stages import Ranked, Scored, SearchIndex, SearchState


def fuse(index: SearchIndex, state: SearchState) -> SearchState:
    """Fills `sentence`, `ranked` and `top_article` (the query's best article similarity, 0 if unknown)."""
    sentence = best_sentences(index, state) if state.mode != "lexical" else None
    if state.native is not None:  # the store fused already
        ranked, top_article = state.native, 0.0
    else:
        ranked, top_article = _ranked(index, state, sentence)
    if index.config.max_overlap < 1.0:
        ranked = collapse_overlaps(ranked, index.chunks, index.config.max_overlap, state.k)
    return dataclasses.replace(state, sentence=sentence, ranked=ranked, top_article=top_article)


def best_sentences(index: SearchIndex, state: SearchState) -> Scored | None:
    """Each candidate's best sentence similarity (rows, scores) over both lists' candidates, if the index has
    sentence vectors (qa/embed/sentences.py)."""
    sentences = index.sentences
    if sentences is None or state.vector is None:
        return None
    rows = np.unique(np.concatenate([state.dense.rows, state.lexical.rows]).astype(np.int64))
    return Scored(sentences.best(rows, state.vector), rows)


def _ranked(index: SearchIndex, state: SearchState, sentence: Scored | None) -> tuple[Ranked, float]:
    dense, lexical, cfg = state.dense, state.lexical, index.config
    if state.mode == "dense":
        return list(zip(dense.rows.tolist(), dense.scores.tolist())), 0.0
    if state.mode == "lexical":
        return list(zip(lexical.rows.tolist(), lexical.scores.tolist())), 0.0
    if cfg.fusion == "weighted":
        fused = weighted(dense, lexical, cfg.alpha)
    else:
        lists, weights = [dense.rows, lexical.rows], [cfg.dense_weight, cfg.lexical_weight]
        if cfg.sentence_weight > 0 and sentence is not None:
            lists.append(sentence.rows[np.argsort(-sentence.scores, kind="stable")])  # the same candidates
            weights.append(cfg.sentence_weight)
        fused = rrf(lists, k=cfg.rrf_k, weights=weights)
    top_article = 0.0
    articles = index.article_vectors
    if articles is not None and state.vector is not None:
        ranks, sims = articles.ranks(state.vector)
        top_article = float(sims.max()) if len(sims) else 0.0
        fused = article_prior(fused, ranks[articles.row_article], cfg.article_weight, cfg.rrf_k)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0])), top_article
