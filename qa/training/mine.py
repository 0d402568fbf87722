"""Hard negatives: of a larger draw of "no answer" pairs, keep those a reader most takes for answered.

Near-topic questions fail the same way in use (a span of the right kind from a sentence about the same
event); the random negatives of a kind are mostly easy, so a stage spends most of its negatives on pairs the
reader already rejects. Mining keeps, per negative kind, the pairs with the highest margin (span score minus
"no answer" score) under the given reader, so the mix's counts stay what `data.Mix` says. The positives are
the draw's first ones of each kind, as without mining.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from qa.training.data import KINDS, Example

POSITIVE_KINDS = ("squad", "nq")


def _margins(reader_dir: str | Path, examples: list[Example], max_length: int,
             log: Callable[[str], None], batch_size: int = 64) -> list[float]:
    from qa.reader.model import Reader
    from qa.training.evaluate import read_examples

    reader = Reader.load(reader_dir, max_length=max_length)
    out: list[float] = []
    t0 = time.time()
    every = max(batch_size, (len(examples) // 20) // batch_size * batch_size)  # about 20 progress lines
    for i in range(0, len(examples), every):
        out += [r.relevance for r in read_examples(reader, examples[i:i + every], batch_size)]
        rate = len(out) / max(time.time() - t0, 1e-9)
        log(f"mining: scored {len(out)}/{len(examples)} negatives, {rate:.0f}/s, "
            f"{(len(examples) - len(out)) / max(rate, 1e-9) / 60:.1f} min left")
    return out


def hardest(pool: list[Example], want: dict[str, int], reader_dir: str | Path, max_length: int,
            record: Path, log: Callable[[str], None] = print) -> list[Example]:
    """`want[kind]` examples of each kind from `pool` (in pool order): the first positives, the negatives the
    reader at `reader_dir` scores highest. The kept negatives' ids and margins go to `record`; when it already
    exists (a resumed run) its ids are taken instead of scoring again."""
    negatives = [e for e in pool if e.answer is None]
    if record.exists():
        kept_ids = set(json.loads(record.read_text())["ids"])
        log(f"mining: the hard negatives chosen before ({record})")
    else:
        margins = _margins(reader_dir, negatives, max_length, log)
        kept_ids, summary = set(), {}
        for kind in (k for k in KINDS if k not in POSITIVE_KINDS):
            scored = sorted(((m, e.qid) for m, e in zip(margins, negatives, strict=True) if e.kind == kind),
                            reverse=True)
            kept = scored[:want.get(kind, 0)]
            kept_ids |= {qid for _, qid in kept}
            if scored:
                summary[kind] = {"pool": len(scored), "kept": len(kept),
                                 "lowest_kept_margin": round(kept[-1][0], 3) if kept else None,
                                 "median_pool_margin": round(scored[len(scored) // 2][0], 3)}
                log(f"mining: {kind} kept {len(kept)} of {len(scored)}, margin ≥ {summary[kind]['lowest_kept_margin']}"
                    f" (median of the pool {summary[kind]['median_pool_margin']})")
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(record.name + ".tmp")
        tmp.write_text(json.dumps({"reader": str(reader_dir), "by_kind": summary, "ids": sorted(kept_ids)},
                                  indent=1) + "\n")
        tmp.replace(record)
    out: list[Example] = []
    for kind in POSITIVE_KINDS:
        out += [e for e in pool if e.kind == kind][:want.get(kind, 0)]
    out += [e for e in negatives if e.qid in kept_ids]
    order = {id(e): i for i, e in enumerate(pool)}
    return sorted(out, key=lambda e: order[id(e)])  # the pool's shuffled order
