"""Background text: book sources behind one interface, split into sentences offline.

A source yields ``Book``s for a split. ``prepare`` turns a source into a ``Corpus``: every
kept sentence with its character span and token count, cached on disk per (books,
tokenizer), so building a sample never tokenizes the background again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from babilong.errors import BabilongError
from babilong.files import atomic_folder, exclusive
from babilong.rng import derive_seed
from babilong.tokens import Tokenizer

SPLITS = ("test", "train", "all")
MIN_WORDS = 4  # sentences shorter than this (headings, "Yes, sir.") are skipped, as the reference does
PREPARE_VERSION = 2  # 2: meta.json records each file's size and sha256, checked on every load
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "messrs", "mme", "mlle", "rev", "capt", "col", "gen", "lt", "vol", "ch", "no", "viz", "etc", "vs"}


@dataclass(frozen=True)
class Book:
    name: str
    read: Callable[[], str]


@dataclass(frozen=True)
class Source:
    """A named set of books; ``books(split)`` lists them for ``test``, ``train`` or ``all``."""

    name: str
    books: Callable[[str], list[Book]]


# ---- sources ---------------------------------------------------------------------------


def get_source(spec: str) -> Source:
    """``gutenberg`` | ``pg19`` | ``pg19:FOLDER`` | ``hub:DATASET[#column]`` | a folder of .txt | a .parquet/.jsonl file[#column]."""
    if spec == "gutenberg":
        return _gutenberg()
    if spec.startswith("hub:"):
        dataset_id, _, column = spec.removeprefix("hub:").partition("#")
        return Source(f"hub:{dataset_id}#{column or 'text'}", lambda split: _hub_books(dataset_id, column or "text", split))
    if spec == "pg19" or spec.startswith("pg19:"):
        return _pg19(spec.removeprefix("pg19").removeprefix(":"))
    path_text, _, column = spec.partition("#")
    path = Path(path_text).expanduser()
    if path.suffix in (".parquet", ".jsonl", ".json"):
        return _table(path, column or "text")
    if path.is_dir():
        return _folder(path)
    if path.is_file():
        raise BabilongError(f"haystack {spec!r} is a single file: put the book in a folder (a haystack folder holds "
                            "one or more .txt books; two or more give separate train and test books) and give the folder")
    raise BabilongError(
        f"haystack {spec!r} not found: use gutenberg, pg19, pg19:FOLDER, a folder of .txt files, or a .parquet/.jsonl file"
    )


def _gutenberg() -> Source:
    from babilong.cache import gutenberg_dir

    folder = gutenberg_dir()
    if not folder.is_dir() or not any(folder.glob("*.txt")):
        raise BabilongError(f"haystack 'gutenberg' is not installed (looked in {folder}): run 'babilong setup'")
    return Source("gutenberg", lambda split: _split_by_name(_txt_books(folder), split))


def _folder(folder: Path) -> Source:
    own_splits = _split_folders(folder)
    if own_splits:
        return Source(f"folder:{folder}", lambda split: _own_split(folder, split, own_splits))
    if not any(folder.glob("*.txt")):
        raise BabilongError(f"haystack folder {folder} holds no .txt files")
    return Source(f"folder:{folder}", lambda split: _split_by_name(_txt_books(folder), split))


def _split_folders(folder: Path) -> set[str]:
    return {name for name in ("train", "test", "validation") if (folder / name).is_dir()}


def _own_split(folder: Path, split: str, available: set[str]) -> list[Book]:
    chosen = sorted(available) if split == "all" else [split]
    if split != "all" and split not in available:
        raise BabilongError(f"haystack {folder} has no {split!r} split (it has {', '.join(sorted(available))}): choose another --split")
    return [book for name in chosen for book in _txt_books(folder / name)]


def _pg19(local: str) -> Source:
    if local:
        folder = Path(local).expanduser()
        if not folder.is_dir():
            raise BabilongError(f"PG19 folder {folder} not found: give a folder with train/ and test/ subfolders of .txt books")
        return Source(f"pg19:{folder}", lambda split: _own_split(folder, split, _split_folders(folder)))
    return Source("pg19", _pg19_hub_books)


def _pg19_hub_books(split: str) -> list[Book]:
    return _hub_books("deepmind/pg19", "text", split)


def _hub_books(dataset_id: str, column: str, split: str) -> list[Book]:
    """Rows of a hub dataset (or a local dataset folder) as books, one split or train+test."""
    try:
        import datasets
    except ImportError:
        raise BabilongError(f"haystack {dataset_id!r} needs the datasets package: pip install 'babilong[hub]'") from None
    books = []
    for name in ["train", "test"] if split == "all" else [split]:
        try:
            table = datasets.load_dataset(dataset_id, split=name)
        except Exception as error:
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            raise BabilongError(
                f"could not load {dataset_id} split {name}: {first_line} (a script-based dataset needs a parquet "
                "copy: use hub:ID_OF_A_PARQUET_MIRROR, pg19:FOLDER or a local file)"
            ) from None
        if column not in table.column_names:
            raise BabilongError(f"{dataset_id} has no column {column!r} (columns: {', '.join(table.column_names)}): use hub:{dataset_id}#COLUMN")
        title = next((c for c in ("short_book_title", "title", "id") if c in table.column_names), None)
        for index, row in enumerate(table):
            books.append(Book(f"{name}/{row[title] if title else index}", lambda text=row[column]: text or ""))
    return books


def _table(path: Path, column: str) -> Source:
    if not path.exists():
        raise BabilongError(f"haystack file {path} not found")

    def books(split: str) -> list[Book]:
        import pyarrow as pa
        import pyarrow.json as pa_json
        import pyarrow.parquet as pq

        kind = "Parquet" if path.suffix == ".parquet" else "JSON Lines"
        try:
            table = pq.read_table(path) if path.suffix == ".parquet" else pa_json.read_json(path)
        except pa.ArrowException as error:
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            raise BabilongError(f"haystack file {path} is not a readable {kind} file ({first_line})") from None
        if column not in table.column_names:
            raise BabilongError(f"haystack file {path} has no column {column!r} (columns: {', '.join(table.column_names)}); name one with FILE#COLUMN")
        names = table.column("title").to_pylist() if "title" in table.column_names else None
        texts = table.column(column).to_pylist()
        wrong = next((i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)), None)
        if wrong is not None:
            raise BabilongError(f"haystack file {path} row {wrong + 1}: column {column!r} holds {type(texts[wrong]).__name__}, not text; name a text column with FILE#COLUMN")
        found = [Book(str(names[i]) if names else f"row{i}", lambda t=t: t or "") for i, t in enumerate(texts)]
        return _split_by_name(found, split)

    return Source(f"file:{path}#{column}", books)


def _txt_books(folder: Path) -> list[Book]:
    return [Book(p.stem, lambda p=p: _read_book(p)) for p in sorted(folder.glob("*.txt"))]


def _read_book(path: Path) -> str:
    """A book's text; bytes that are not UTF-8 become U+FFFD, and that is said once per book."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        warn_once(f"haystack book {path} is not UTF-8 (byte {error.start}): its undecodable bytes are read as U+FFFD; "
                  "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)")
        return raw.decode("utf-8", errors="replace")


def _split_by_name(books: list[Book], split: str) -> list[Book]:
    """A fixed split by book name: about a third of the books train, the rest test."""
    if split not in SPLITS:
        raise BabilongError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if split == "all":
        return books
    if len(books) == 1:  # (no books at all is reported by the caller, which knows the source)
        raise BabilongError(
            "a haystack of one book has no separate train and test books: give a folder of two or more "
            "books, or --split all"
        )
    is_train = [derive_seed("book-split", book.name) % 3 == 0 for book in books]
    if books and (all(is_train) or not any(is_train)):  # tiny corpora: still keep both splits non-empty
        is_train = [i == 0 for i in range(len(books))]
    return [book for book, train in zip(books, is_train) if train == (split == "train")]


# ---- sentences ---------------------------------------------------------------------------


@cache
def sentence_splitter():
    """NLTK Punkt with built-in parameters and common abbreviations: no downloaded data."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    parameters = PunktParameters()
    parameters.abbrev_types = set(_ABBREVIATIONS)
    return PunktSentenceTokenizer(parameters)


def split_sentences(text: str) -> list[str]:
    """Sentences with whitespace folded to single spaces; short ones dropped."""
    splitter = sentence_splitter()
    paragraphs = re.split(r"\n\s*\n", text)  # a blank line always ends a sentence
    sentences = (" ".join(s.split()) for p in paragraphs for s in splitter.tokenize(p))
    return [s for s in sentences if len(s.split(" ")) >= MIN_WORDS]


# ---- the prepared corpus ------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """Every sentence of a source's split, ready for fast sample building.

    ``text`` is all sentences joined by single spaces, so any run of consecutive sentences
    is one slice of it. ``tokens[i]`` counts the tokens of ``" " + sentence_i``.
    """

    name: str
    tokenizer: str
    book_names: tuple[str, ...]
    text: str
    starts: np.ndarray  # char offset of each sentence in ``text``
    ends: np.ndarray
    tokens: np.ndarray
    book_bounds: np.ndarray  # sentences of book b are book_bounds[b]:book_bounds[b+1]

    @property
    def total_tokens(self) -> int:
        return int(self.tokens.sum())

    @cached_property
    def cumulative(self) -> np.ndarray:
        """``cumulative[i]`` = tokens of sentences ``0 .. i-1`` (length n + 1)."""
        return np.concatenate([[0], np.cumsum(self.tokens, dtype=np.int64)])

    def book_tokens(self) -> np.ndarray:
        return self.cumulative[self.book_bounds[1:]] - self.cumulative[self.book_bounds[:-1]]


def prepare(source: Source, split: str, tokenizer: Tokenizer, cache: Path | None = None, progress: bool = False) -> Corpus:
    """Split and tokenize a source's books once; later calls load the cached arrays.

    Processes preparing the same corpus at once take turns: the first builds it, the others
    wait and load its copy.
    """
    books = source.books(split)
    if not books:
        raise BabilongError(f"haystack {source.name!r} has no books in split {split!r}: choose another --split or --haystack")
    texts = [book.read() for book in books]
    if not any(text.strip() for text in texts):
        raise BabilongError(f"haystack {source.name!r} ({split}): all its {len(books)} books are empty; give books with text")
    key = _corpus_key(source.name, split, tokenizer.name, [b.name for b in books], texts)
    folder = (cache or _default_cache()) / key
    if (folder / "meta.json").exists():
        try:
            return load_prepared(folder)
        except DamagedCache as damage:
            warn_once(f"{damage}: rebuilding it")
    with exclusive(folder):
        if (folder / "meta.json").exists():  # another process may have built (or rebuilt) it meanwhile
            try:
                return load_prepared(folder)
            except DamagedCache:
                pass
        corpus = _build(f"{source.name}/{split}", tokenizer, [b.name for b in books], texts, progress)
        if corpus.total_tokens == 0:
            raise BabilongError(f"haystack {source.name!r} ({split}) holds no sentences of {MIN_WORDS}+ words")
        atomic_folder(folder, lambda staging: _save(corpus, staging))
        return corpus


def _build(name: str, tokenizer: Tokenizer, names: list[str], texts: list[str], progress: bool) -> Corpus:
    from tqdm import tqdm

    sentences: list[str] = []
    bounds = [0]
    for text in tqdm(texts, desc=f"preparing {name}", unit="book", disable=not progress):
        sentences.extend(split_sentences(text))
        bounds.append(len(sentences))
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]) if len(sentences) else np.zeros(0, np.int64)
    counts = [len(ids) for ids in tokenizer.encode_batch([" " + s for s in sentences])]
    return Corpus(
        name=name, tokenizer=tokenizer.name, book_names=tuple(names), text=" ".join(sentences),
        starts=starts.astype(np.int64), ends=(starts + lengths).astype(np.int64),
        tokens=np.asarray(counts, dtype=np.int64), book_bounds=np.asarray(bounds, dtype=np.int64),
    )


def _corpus_key(source: str, split: str, tokenizer: str, names: list[str], texts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([PREPARE_VERSION, source, split, tokenizer, names]).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()[:24]


def _default_cache() -> Path:
    from babilong.cache import cache_dir

    return cache_dir() / "prepared"


CACHED_FILES = ("text.txt", "arrays.npz")


class DamagedCache(BabilongError):
    """A prepared-corpus folder whose files are not those written at preparation."""


def _save(corpus: Corpus, folder: Path) -> None:
    (folder / "text.txt").write_text(corpus.text, encoding="utf-8")
    np.savez(folder / "arrays.npz", starts=corpus.starts, ends=corpus.ends, tokens=corpus.tokens, book_bounds=corpus.book_bounds)
    files = {name: _fingerprint((folder / name).read_bytes()) for name in CACHED_FILES}
    meta = {"name": corpus.name, "tokenizer": corpus.tokenizer, "book_names": list(corpus.book_names), "files": files}
    (folder / "meta.json").write_text(json.dumps(meta))


def _fingerprint(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def load_prepared(folder: Path) -> Corpus:
    """A prepared corpus, each file checked against the size and sha256 recorded when it was written.

    Raises ``DamagedCache`` (one line naming the folder and the file) when anything differs.
    """
    meta = _read_meta(folder)
    data = {name: _checked_bytes(folder, name, meta["files"].get(name)) for name in CACHED_FILES}
    try:
        text = data["text.txt"].decode("utf-8")
        arrays = np.load(io.BytesIO(data["arrays.npz"]))
        starts, ends, tokens, bounds = (arrays[name] for name in ("starts", "ends", "tokens", "book_bounds"))
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as error:  # a hash collision aside, only if written so
        raise DamagedCache(f"the prepared corpus in {folder} is damaged ({type(error).__name__})") from None
    return Corpus(name=meta["name"], tokenizer=meta["tokenizer"], book_names=tuple(meta["book_names"]), text=text,
                  starts=starts, ends=ends, tokens=tokens, book_bounds=bounds)


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "meta.json").read_bytes())
    except OSError as error:
        raise DamagedCache(f"the prepared corpus in {folder} is damaged (meta.json: {error.strerror or error})") from None
    except ValueError:
        raise DamagedCache(f"the prepared corpus in {folder} is damaged (meta.json is not JSON)") from None
    keys = {"name": str, "tokenizer": str, "book_names": list, "files": dict}
    if not isinstance(meta, dict) or any(not isinstance(meta.get(key), kind) for key, kind in keys.items()):
        raise DamagedCache(f"the prepared corpus in {folder} is damaged (meta.json lacks its fields)")
    return meta


def _checked_bytes(folder: Path, name: str, recorded: Any) -> bytes:
    try:
        data = (folder / name).read_bytes()
    except OSError as error:
        raise DamagedCache(f"the prepared corpus in {folder} is damaged ({name}: {error.strerror or error})") from None
    if not isinstance(recorded, dict) or recorded.get("size") != len(data):
        raise DamagedCache(f"the prepared corpus in {folder} is damaged ({name} has {len(data)} bytes, "
                           f"{recorded.get('size') if isinstance(recorded, dict) else 'unknown'} were written)")
    if recorded.get("sha256") != hashlib.sha256(data).hexdigest():
        raise DamagedCache(f"the prepared corpus in {folder} is damaged ({name} has other bytes than were written)")
    return data


def verify_prepared(cache: Path | None = None) -> tuple[int, list[str]]:
    """Check every prepared corpus in the cache; damaged ones are removed (rebuilt when next needed).

    Returns how many were intact and one line per damaged one.
    """
    root = cache or _default_cache()
    intact, damaged = 0, []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        with exclusive(folder):
            if _written_before_checks(folder):
                _remove_folder(folder)  # never read again (its key names an older version): only space
                continue
            try:
                load_prepared(folder)
                intact += 1
            except DamagedCache as damage:
                _remove_folder(folder)
                damaged.append(f"{damage}: removed; it is rebuilt when next needed")
    return intact, damaged


def _written_before_checks(folder: Path) -> bool:
    """A corpus prepared by a babilong that recorded no sizes and hashes (PREPARE_VERSION 1)."""
    try:
        meta = json.loads((folder / "meta.json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "name" in meta and "files" not in meta


def _remove_folder(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """One line on stderr, the first time a message comes up in this process."""
    if message not in _warned:
        _warned.add(message)
        print(f"babilong: warning: {message}", file=sys.stderr)


def iter_sentences(corpus: Corpus, first: int, last: int) -> Iterator[str]:
    """Sentences ``first`` to ``last - 1`` as strings (for inspection and tests)."""
    for i in range(first, last):
        yield corpus.text[corpus.starts[i]:corpus.ends[i]]
