"""FAISS search over chunk vectors: exact inner product by default, HNSW for huge contexts."""

from __future__ import annotations

import numpy as np

from babilong.errors import BabilongError

INDEX_KINDS = ("flat", "hnsw")
HNSW_NEIGHBOURS = 32
HNSW_SEARCH_DEPTH = 128  # efSearch: candidates kept while searching; higher is slower and closer to exact


def build_index(vectors: np.ndarray, kind: str = "flat"):
    """A FAISS index holding ``vectors`` (rows are unit vectors, so inner product is cosine)."""
    try:
        import faiss
    except ImportError:
        raise BabilongError("RAG needs faiss: pip install faiss-cpu") from None
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = HNSW_SEARCH_DEPTH
    else:
        raise BabilongError(f"unknown index {kind!r}: use index=flat (exact) or index=hnsw (approximate)")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search(index, query: np.ndarray, top_k: int) -> list[tuple[int, float]]:
    """The ``top_k`` best ``(row, score)`` pairs, best first; equal scores keep reading order."""
    scores, rows = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), top_k)
    hits = [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))
