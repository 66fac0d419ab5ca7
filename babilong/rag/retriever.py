"""The retrieval step of RAG: the top-k chunks of a context for its question."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from babilong.errors import BabilongError
from babilong.rag.chunking import Chunk, Chunking, chunk_text, parse_chunking
from babilong.rag.embedder import Embedder, EmbeddingCache, embed
from babilong.rag.index import build_index, search
from babilong.rag.recall import supporting_spans
from babilong.sample import Sample

ORDERS = ("similarity", "position")
CHUNK_SEPARATOR = "\n"


@dataclass(frozen=True)
class Retrieval:
    """The chosen chunks (in the order the reader sees them) and their similarity to the question."""

    chunks: list[Chunk]
    scores: list[float]
    total_chunks: int

    def context(self) -> str:
        return CHUNK_SEPARATOR.join(chunk.text for chunk in self.chunks)


class Retriever:
    """Chunks, embeds (through the cache), indexes and searches one context per call."""

    def __init__(self, embedder: Embedder, chunking: Chunking | str = "sentence", top_k: int = 5,
                 order: str = "similarity", index: str = "flat", cache: EmbeddingCache | None = None) -> None:
        if order not in ORDERS:
            raise BabilongError(f"unknown order {order!r}: use order=similarity (most similar first) or order=position (story order)")
        if top_k < 1:
            raise BabilongError(f"top_k={top_k} must be at least 1")
        self.embedder = embedder
        self.chunking = parse_chunking(chunking) if isinstance(chunking, str) else chunking
        self.top_k = top_k
        self.order = order
        self.index = index
        self.cache = cache

    def settings(self) -> dict[str, Any]:
        return {"embedder": self.embedder.fingerprint, "chunk": self.chunking.spec, "top_k": self.top_k,
                "order": self.order, "index": self.index}

    def retrieve(self, context: str, question: str, tokenizer: str | None = None) -> Retrieval:
        """The ``top_k`` chunks most like the question, best first or in reading order."""
        chunks = chunk_text(context, self.chunking, _tokenizer(tokenizer) if self.chunking.kind == "tokens" else None)
        vectors = embed([c.text for c in chunks], self.embedder, self.cache)
        query = self.embedder.encode([question])[0]
        hits = search(build_index(vectors, self.index), query, self.top_k)
        if self.order == "position":
            hits = sorted(hits, key=lambda hit: hit[0])
        return Retrieval([chunks[row] for row, _ in hits], [score for _, score in hits], len(chunks))

    def rewrite_sample(self, sample: Sample) -> tuple[Sample, dict[str, Any]]:
        """The sample with its context replaced by the retrieved chunks, and what was retrieved."""
        retrieval = self.retrieve(sample.input, sample.question, sample.tokenizer)
        info: dict[str, Any] = {
            "chunks": [[c.start, c.end] for c in retrieval.chunks],
            "scores": [round(s, 6) for s in retrieval.scores],
            "total_chunks": retrieval.total_chunks,
        }
        if sample.fact_positions:  # what the recall scorer needs, kept with the retrieval record
            info["supporting"] = [list(span) for span in supporting_spans(sample)]
        return dataclasses.replace(sample, input=retrieval.context(), fact_positions=()), info


def _tokenizer(name: str | None):
    from babilong.tokens import DEFAULT_TOKENIZER, get_tokenizer

    return get_tokenizer(name or DEFAULT_TOKENIZER)
