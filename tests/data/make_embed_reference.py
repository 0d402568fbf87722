"""Reference vectors from the pre-sentence-transformers torch path (qa/embed/minilm.py, commit 370e0f7)."""
# Run once at 370e0f7 (before qa/embed/minilm.py was retired), from the repository root with PYTHONPATH=.;
# kept as the record of how the fixture was made.
import json
from pathlib import Path

import numpy as np

from qa.embed.embedder import Embedder
from qa.embed.sentences import spans_in
from qa.index.contract import chunker_settings
from qa.ingest.articles import find_files, iter_articles
from qa.ingest.chunker import Chunker, ChunkerConfig
from qa.settings import Settings
from tests.conftest import FRONTLINES, SEEDS

chunker = Chunker(ChunkerConfig(**chunker_settings(Settings())))
chunks = [c for a, _ in iter_articles(SEEDS, find_files(SEEDS)) if a is not None for c in chunker.chunk(a)]
passages = [c.embed_text for c in chunks]
spans = [spans_in(c.embed_text, c.text) for c in chunks]
long = [f.read_text(encoding="utf-8")[:4000] for f in sorted(FRONTLINES.glob("*.md"))[:6]]  # truncated at 256
queries = [json.loads(l)["question"] for l in Path("eval/kherson.jsonl").read_text().splitlines()] + ["x", "ZSU"]
out = {}
for prec in ("fp32", "bf16"):
    e = Embedder(precision=prec)
    pv, sv = e.encode_with_sentences(passages, spans)
    out[f"{prec}_passages"] = pv.astype(np.float16)
    out[f"{prec}_sentences"] = np.concatenate(sv).astype(np.float16)
    out[f"{prec}_queries"] = np.stack([e.encode_query(q) for q in queries]).astype(np.float16)
    out[f"{prec}_long"] = e.encode(long).astype(np.float16)
np.savez_compressed("tests/data/embed_reference.npz", **out)
Path("tests/data/embed_reference.json").write_text(json.dumps(
    {"made_by": "qa/embed/minilm.py (torch backend) at 370e0f7, float16-rounded",
     "passages": passages, "spans": spans, "long": long, "queries": queries}, ensure_ascii=False, indent=0))
print({k: v.shape for k, v in out.items()})
