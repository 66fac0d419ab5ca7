"""Tokenizers by name: tiktoken encodings (GPT-2 offline after ``babilong setup``) or any HF tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Protocol

from babilong.errors import BabilongError

DEFAULT_TOKENIZER = "gpt2"
_GPT2_NAMES = ("gpt2", "r50k_base")


class Tokenizer(Protocol):
    name: str

    def encode(self, text: str) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


COUNT_PIECE = 1 << 20  # characters per piece when a long text is counted piece by piece


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """The tokens of ``text``, without holding a list of them all when the tokenizer can count in pieces."""
    count = getattr(tokenizer, "count", None)
    return count(text) if count else len(tokenizer.encode(text))


def word_starts(text: str, size: int = COUNT_PIECE):
    """Offsets cutting ``text`` into pieces of about ``size`` characters, each cut at a single space between two words.

    tiktoken's encodings split text into pre-tokens before merging, and a single space
    with a non-space on either side always begins a pre-token: counts of pieces cut there
    add up to the count of the whole.
    """
    position = 0
    while position + size < len(text):
        cut = text.find(" ", position + size)
        while cut != -1 and (text[cut - 1].isspace() or cut + 1 >= len(text) or text[cut + 1].isspace()):
            cut = text.find(" ", cut + 1)
        if cut == -1:
            break
        yield cut
        position = cut


class TiktokenTokenizer:
    """A tiktoken encoding; special-token text is encoded as ordinary text."""

    def __init__(self, name: str, encoding) -> None:
        self.name = name
        self._encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._encoding.encode_ordinary_batch(list(texts), num_threads=2)

    def count(self, text: str) -> int:
        """Tokens of ``text``, encoded a megabyte at a time (exact: see ``word_starts``)."""
        cuts = [0, *word_starts(text, COUNT_PIECE), len(text)]
        return sum(len(self._encoding.encode_ordinary(text[a:b])) for a, b in zip(cuts, cuts[1:]))

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

    from babilong.assets import gpt2_ranks_file, read_ranks

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
