"""Cutting a context into chunks that keep their exact character spans.

``sentence`` (default) splits offline with the same Punkt setup as the haystack builder but
keeps every sentence, short ones included; ``tokens:N`` cuts windows of N tokens of a
babilong tokenizer (GPT-2 by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from babilong.errors import BabilongError
from babilong.tokens import Tokenizer

WINDOW_CHARS = 20_000  # text handed to Punkt at once


@dataclass(frozen=True)
class Chunk:
    """``text == context[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunking:
    """A parsed chunking spec: ``sentence`` or ``tokens:N``."""

    kind: str
    size: int = 0

    @property
    def spec(self) -> str:
        return "sentence" if self.kind == "sentence" else f"tokens:{self.size}"


def parse_chunking(spec: str) -> Chunking:
    """``sentence`` | ``tokens:N``; anything else is a user error."""
    spec = spec.strip()
    if spec == "sentence":
        return Chunking("sentence")
    kind, _, size = spec.partition(":")
    if kind == "tokens" and size.isdigit() and int(size) > 0:
        return Chunking("tokens", int(size))
    raise BabilongError(f"unknown chunking {spec!r}: use chunk=sentence or chunk=tokens:N (e.g. tokens:512)")


def chunk_text(text: str, chunking: Chunking, tokenizer: Tokenizer | None = None) -> list[Chunk]:
    """The chunks of ``text`` in reading order; an empty context is a user error."""
    if not text.strip():
        raise BabilongError("the context is empty: RAG needs a sample with background text to retrieve from")
    if chunking.kind == "sentence":
        return sentence_chunks(text)
    if tokenizer is None:
        from babilong.tokens import get_tokenizer

        tokenizer = get_tokenizer()
    return token_chunks(text, chunking.size, tokenizer)


def sentence_chunks(text: str) -> list[Chunk]:
    """Every sentence with its span; a blank line always ends a sentence."""
    from babilong.haystack import sentence_splitter

    splitter = sentence_splitter()
    chunks = []
    for paragraph in _paragraphs(text):
        for start, end in _windowed_spans(splitter, paragraph.group()):
            start, end = start + paragraph.start(), end + paragraph.start()
            chunks.append(Chunk(start, end, text[start:end]))
    return chunks


def _windowed_spans(splitter, text: str, window: int = WINDOW_CHARS):
    """Punkt spans over a long text, a window at a time (nltk stops regexes running past 5 s).

    Each window's last sentence may be cut by the window's end, so it is dropped and the next
    window starts where it started: every boundary is decided with the text that follows it.
    """
    position = 0
    while position < len(text):
        end = position + window
        spans = list(splitter.span_tokenize(text[position:end]))
        if end >= len(text) or len(spans) < 2:
            if end < len(text):
                window *= 2  # one sentence longer than the window: look further
                continue
            yield from ((position + a, position + b) for a, b in spans)
            return
        yield from ((position + a, position + b) for a, b in spans[:-1])
        position += spans[-1][0]


def _paragraphs(text: str):
    """Matches of the non-blank stretches between blank lines."""
    return re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", text, flags=re.DOTALL)


def token_chunks(text: str, size: int, tokenizer: Tokenizer) -> list[Chunk]:
    """Windows of ``size`` tokens; a window grows by a token when cutting would split a character."""
    ids = tokenizer.encode(text)
    chunks, position, first = [], 0, 0
    while first < len(ids):
        last = min(first + size, len(ids))
        piece = tokenizer.decode(ids[first:last])
        while not text.startswith(piece, position) and last < len(ids):
            last += 1  # a multi-byte character was cut: take its remaining bytes too
            piece = tokenizer.decode(ids[first:last])
        if not text.startswith(piece, position):
            raise BabilongError(f"tokenizer {getattr(tokenizer, 'name', '?')!r} does not decode back to the context: use chunk=sentence or the gpt2 tokenizer")
        chunks.append(Chunk(position, position + len(piece), piece))
        position += len(piece)
        first = last
    return chunks
