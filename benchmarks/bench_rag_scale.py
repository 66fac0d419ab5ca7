"""RAG at 1M and 10M tokens: chunking, embedding and search cost, measured and extrapolated.

    python benchmarks/bench_rag_scale.py                  # 1M: chunk all, embed a 2000-sentence slice, search all
    python benchmarks/bench_rag_scale.py --embed all      # 1M: embed every chunk (long on a CPU)
    python benchmarks/bench_rag_scale.py --length 10M     # the same steps on a 10M sample

Steps timed separately on one generated qa1 sample: generation, sentence chunking (all of it),
embedding (``--embed N`` chunks, or ``all``; no cache, so every chunk is really embedded),
and exact (flat) and approximate (HNSW) index build + one top-5 search over as many vectors
as the context has chunks. When only a slice is embedded, the full embedding time is
extrapolated linearly from the measured rate (chunks per second), and the vectors searched
are the slice's real vectors tiled to the full count: search cost depends on the count only.
The line ``distinct`` gives how many chunk texts are distinct: with the embedding cache,
only those are embedded (a context longer than its haystack repeats its books).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", default="1M")
    parser.add_argument("--embed", default="2000", help="chunks to embed, or 'all'")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import numpy as np

    from babilong.generate import generate_samples
    from babilong.rag.chunking import sentence_chunks
    from babilong.rag.embedder import Embedder
    from babilong.rag.index import build_index, search

    generate_samples("qa1", "4k", 1)  # load the prepared corpus outside the timings
    sample, seconds = timed(lambda: generate_samples("qa1", args.length, 1)[0])
    report("generate", seconds, f"{sample.token_count} tokens, {len(sample.input)} chars")
    chunks, seconds = timed(lambda: sentence_chunks(sample.input))
    texts = [c.text for c in chunks]
    report("chunk", seconds, f"{len(chunks)} sentences ({sample.token_count / len(chunks):.1f} tokens each), "
           f"{len(chunks) / seconds:.0f} sentences/s")
    print(f"distinct     {len(set(texts))} of {len(texts)} chunk texts", flush=True)

    embedder = Embedder(args.embedder, device=args.device)
    embedder.encode(["warm up"])
    count = len(texts) if args.embed == "all" else min(int(args.embed), len(texts))
    step = max(len(texts) // count, 1)
    chosen = texts[::step][:count]  # spread over the whole context, not just its start
    vectors, seconds = timed(lambda: embedder.encode(chosen))
    rate = count / seconds
    report("embed", seconds, f"{count} chunks measured, {rate:.1f} chunks/s")
    full = len(texts) / rate
    print(f"embed-all    {full:9.1f} s  {'measured' if count == len(texts) else 'extrapolated'} for {len(texts)} chunks "
          f"({full / 60:.1f} min); with the cache only the {len(set(texts))} distinct texts: {len(set(texts)) / rate / 60:.1f} min",
          flush=True)

    table = vectors if count == len(texts) else np.resize(vectors, (len(texts), vectors.shape[1]))
    query = embedder.encode([sample.question])[0]
    for kind in ("flat", "hnsw"):
        index, build = timed(lambda: build_index(table, kind))
        hits, seconds = timed(lambda: search(index, query, 5))
        report(f"index-{kind}", build, f"build over {len(table)} vectors; search {seconds * 1000:.1f} ms")
    total_tokens = sample.token_count
    print(f"rate         {total_tokens / full:.0f} context tokens/s embedded; 10M tokens would take "
          f"{10_000_000 / (total_tokens / full) / 3600:.1f} h on this machine at this rate (linear: embedding cost is per chunk)",
          flush=True)


def timed(work):
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def report(step: str, seconds: float, detail: str) -> None:
    print(f"{step:12} {seconds:9.1f} s  {detail}", flush=True)


if __name__ == "__main__":
    main()
