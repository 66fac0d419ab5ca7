"""Tokenizers by name: tiktoken encodings (GPT-2 offline after ``babilong setup``) or any HF tokenizer."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

from babilong.errors import BabilongError

DEFAULT_TOKENIZER = "gpt2"
_GPT2_NAMES = ("gpt2", "r50k_base")


class Tokenizer(Protocol):
    name: str

    def encode(self, text: str) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


THREADED_BATCH = 1 << 20  # characters from which a batch is encoded on two threads
COUNT_PIECE = 1 << 20  # characters per piece when a long text is counted piece by piece


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """The tokens of ``text``, without holding a list of them all when the tokenizer can count in pieces."""
    count = getattr(tokenizer, "count", None)
    return count(text) if count else len(tokenizer.encode(text))


def count_tokens_of_chunks(tokenizer: Tokenizer, chunks: Iterable[str]) -> int:
    """The tokens of the text ``chunks`` make when joined, holding about ``COUNT_PIECE`` characters at a time
    when the tokenizer can count in pieces (otherwise the joined text)."""
    count = getattr(tokenizer, "count_chunks", None)
    return count(chunks) if count else len(tokenizer.encode("".join(chunks)))


def word_starts(text: str, size: int = COUNT_PIECE):
    """Offsets cutting ``text`` into pieces of about ``size`` characters, each cut at a single space between two words.

    tiktoken's encodings split text into pre-tokens before merging, and a single space
    with a non-space on either side always begins a pre-token: counts of pieces cut there
    add up to the count of the whole.
    """
    position = 0
    while position + size < len(text):
        cut = _next_word_start(text, position + size)
        if cut is None:
            break
        yield cut
        position = cut


def word_pieces(chunks: Iterable[str], size: int = COUNT_PIECE) -> Iterator[str]:
    """The text the chunks make, cut exactly where ``word_starts`` cuts the joined text, without joining it."""
    held: list[str] = []
    held_length = 0
    for chunk in chunks:
        held.append(chunk)
        held_length += len(chunk)
        if held_length <= size + 1:
            continue
        rest = "".join(held)
        while len(rest) > size and (cut := _next_word_start(rest, size, more_may_follow=True)) is not None:
            yield rest[:cut]
            rest = rest[cut:]
        held, held_length = [rest], len(rest)
    if held_length:
        yield "".join(held)


def _next_word_start(text: str, start: int, more_may_follow: bool = False) -> int | None:
    """The first single space at or after ``start`` with a non-space on either side.

    A space at the very end has no known right neighbour: with ``more_may_follow`` the
    answer waits for more text (None), as it does when no such space is found.
    """
    cut = text.find(" ", start)
    while cut != -1 and (text[cut - 1].isspace() or cut + 1 >= len(text) or text[cut + 1].isspace()):
        if more_may_follow and cut + 1 >= len(text):
            return None
        cut = text.find(" ", cut + 1)
    return None if cut == -1 else cut


class TiktokenTokenizer:
    """A tiktoken encoding; special-token text is encoded as ordinary text."""

    # Texts joined by a single space, none with whitespace at an edge, have as many tokens as
    # the first plus each other with its space (see ``word_starts``): the builder relies on it.
    counts_add_up_at_spaces = True

    def __init__(self, name: str, encoding) -> None:
        self.name = name
        self._encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if sum(map(len, texts)) < THREADED_BATCH:  # tiktoken starts a thread pool per batch: dearer than a story's facts
            return [self._encoding.encode_ordinary(text) for text in texts]
        return self._encoding.encode_ordinary_batch(list(texts), num_threads=2)

    def count(self, text: str) -> int:
        """Tokens of ``text``, encoded a megabyte at a time (exact: see ``word_starts``)."""
        cuts = [0, *word_starts(text, COUNT_PIECE), len(text)]
        return sum(len(self._encoding.encode_ordinary(text[a:b])) for a, b in zip(cuts, cuts[1:]))

    def count_chunks(self, chunks: Iterable[str]) -> int:
        """Tokens of the text ``chunks`` make, cut into the same pieces as ``count`` cuts it (so the same count)."""
        return sum(len(self._encoding.encode_ordinary(piece)) for piece in word_pieces(chunks, COUNT_PIECE))

    def decode(self, ids: Sequence[int]) -> str:
        return self._encoding.decode(list(ids))


class HFTokenizer:
    """A transformers tokenizer (hub id or local folder), without special tokens."""

    def __init__(self, name: str, tokenizer) -> None:
        self.name = name
        self._tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._tokenizer(list(texts), add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids))


@cache
def get_tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """``gpt2`` (default), another tiktoken encoding (``cl100k_base``...), or ``hf:ID_OR_PATH``."""
    if name.startswith("hf:"):
        return _load_hf(name)
    if name in _GPT2_NAMES:
        return _load_gpt2(name)
    return _load_tiktoken(name)


def _load_gpt2(name: str) -> Tokenizer:
    import tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str

    from babilong.cache import gpt2_ranks_file

    path = gpt2_ranks_file()
    if not path.exists():
        return _load_tiktoken(name)  # tiktoken's own cache or download, when online
    encoding = tiktoken.Encoding(
        name, pat_str=r50k_pat_str, mergeable_ranks=read_ranks(path),
        special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257,
    )
    return TiktokenTokenizer(name, encoding)


def _load_tiktoken(name: str) -> Tokenizer:
    import tiktoken

    try:
        return TiktokenTokenizer(name, tiktoken.get_encoding(name))
    except ValueError:
        raise BabilongError(
            f"unknown tokenizer {name!r}: use a tiktoken encoding (gpt2, cl100k_base, o200k_base) or hf:HUB_ID_OR_PATH"
        ) from None
    except Exception as error:  # network failures surface as many exception types
        hint = "run 'babilong setup' for the offline GPT-2 files" if name in _GPT2_NAMES else "it must be downloaded once online"
        raise BabilongError(f"tokenizer {name!r} could not be loaded ({type(error).__name__}): {hint}") from None


def _load_hf(name: str) -> Tokenizer:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise BabilongError(f"tokenizer {name!r} needs transformers: pip install 'babilong[hf]'") from None
    source = name.removeprefix("hf:")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise BabilongError(f"could not load tokenizer {source!r}: {str(error).splitlines()[0]}") from None
    return HFTokenizer(name, tokenizer)


def read_ranks(path: Path) -> dict[bytes, int]:
    """Read a tiktoken rank file (``base64(token) rank`` per line)."""
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
