"""Retrieval recall@k of the RAG baseline on generated samples (the paper: qa1 94-98% at 4k-128k).

    python benchmarks/bench_rag_recall.py                                   # qa1-qa3, 100 samples at 4k/16k/64k/128k
    python benchmarks/bench_rag_recall.py --tasks qa1 --samples 100,100,20,10 --cell-seconds 600

A sample's recall is 1 when its top-k sentence chunks cover every supporting fact. Embeddings
go through the on-disk cache (``--cache``), keyed by chunk text, so samples drawn from the same
book sentences share vectors and a rerun is nearly free. ``--cell-seconds`` stops a cell early;
the line printed says how many samples were measured, so partial figures are never silent.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="qa1,qa2,qa3")
    parser.add_argument("--lengths", default="4k,16k,64k,128k")
    parser.add_argument("--samples", default="100", help="one count, or one per length (comma-separated)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--chunk", default="sentence")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: the user cache)")
    parser.add_argument("--cell-seconds", type=float, default=None, help="stop a (task, length) cell after this long")
    args = parser.parse_args()

    from babilong.generate import generate_samples
    from babilong.rag.embedder import Embedder, EmbeddingCache
    from babilong.rag.retriever import Retriever

    lengths = args.lengths.split(",")
    counts = [int(n) for n in args.samples.split(",")]
    counts = counts * len(lengths) if len(counts) == 1 else counts
    embedder = Embedder(args.embedder, device=args.device)
    retriever = Retriever(embedder, args.chunk, args.top_k, cache=EmbeddingCache(args.cache) if args.cache else EmbeddingCache())
    print(f"embedder {embedder.fingerprint}, chunk={args.chunk}, top_k={args.top_k}, device={args.device}, "
          f"threads={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    print("task   length  samples  recall@k  fact-recall  chunks  embedded  seconds  embedded/s", flush=True)
    for length, count in zip(lengths, counts):
        for task in args.tasks.split(","):
            measure(retriever, generate_samples, task, length, count, args.cell_seconds)


def measure(retriever, generate_samples, task: str, length: str, count: int, budget: float | None) -> None:
    """One (task, length) cell: samples one at a time until done or out of time."""
    complete = found = needed = chunks = 0
    calls_before = _cache_size(retriever)
    start = time.perf_counter()
    done = 0
    for index in range(count):
        if budget is not None and time.perf_counter() - start > budget:
            break
        sample = generate_samples(task, length, 1, start=index)[0]
        _, info = retriever.rewrite_sample(sample)
        complete += int(info["recall"])
        found += info["facts_found"]
        needed += info["facts_needed"]
        chunks += info["total_chunks"]
        done += 1
    seconds = time.perf_counter() - start
    embedded = _cache_size(retriever) - calls_before
    print(f"{task:6} {length:6} {done:4}/{count:<4} {100 * complete / max(done, 1):7.1f}%  {100 * found / max(needed, 1):9.1f}%  "
          f"{chunks:7}  {embedded:8}  {seconds:7.1f}  {embedded / seconds:9.1f}", flush=True)


def _cache_size(retriever) -> int:
    """Vectors the cache holds for this embedder: the growth is what was newly embedded."""
    return retriever.cache.size(retriever.embedder.fingerprint)


if __name__ == "__main__":
    main()
