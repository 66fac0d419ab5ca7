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


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text))


class TiktokenTokenizer:
    """A tiktoken encoding; special-token text is encoded as ordinary text."""

    def __init__(self, name: str, encoding) -> None:
        self.name = name
        self._encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._encoding.encode_ordinary_batch(list(texts), num_threads=2)

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
