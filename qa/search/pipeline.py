"""The search pipeline: the list of stages `Retriever.search` runs, in order.

    candidates → fuse → [rerank] → hits → confidence → read

Each stage is a function `(index: SearchIndex, state: SearchState) -> SearchState` (qa/search/stages.py)
that reads what earlier stages filled in `state` and returns a copy with its own fields set
(`dataclasses.replace`). To add one, write it in its own module and add one line to `STAGES`:

    Stage("read", read, timer="read"),   # e.g. qa/search/read.py, after "fuse"

A stage placed after `fuse` and before `hits` sees the fused ranking in `state.ranked` (row, score), best
first, with the passages in `index.chunks[row]`; reordering or cutting `ranked` changes the hits. `read`
(qa/search/read.py) comes last: `hits` gives it `state.depth` cited passages (more than k when it reads),
it uses retrieval's `confidence` as one of its features, replaces `confidence` / `answerable`, sets
`answer`, and cuts the hits to k. Each stage's run time is added
to `state.timings[timer]`, which the server exports as per-stage latency metrics.
"""

from __future__ import annotations

from qa.search.candidates import candidates
from qa.search.confidence import confidence
from qa.search.fuse import fuse
from qa.search.hits import hits
from qa.search.read import read
from qa.search.stages import Stage

STAGES: tuple[Stage, ...] = (
    Stage("candidates", candidates, timer=None),  # times embed / dense / lexical / hybrid itself
    Stage("fuse", fuse, timer="fuse"),
    # a reranker that needs only rows and scores goes here: it reorders `state.ranked`
    Stage("hits", hits, timer="fuse"),
    Stage("confidence", confidence, timer="fuse"),
    Stage("read", read, timer="read"),  # the reader reorders the top hits; its confidence replaces retrieval's
)
