"""Hide a story's facts in a background passage so the input has exactly N tokens.

The hot path. It never tokenizes the background: the prepared corpus knows each
sentence's token count (as ``" " + sentence``), and for tiktoken encodings such as GPT-2
those counts add up exactly when pieces with no space at either edge are joined by single
spaces (such a space always starts a pre-token: ``tokens.word_starts``). So for them the
input's count is the sum of its pieces' counts, and a 10M-token input is built without
tokenizing its 40 MB. For other tokenizers (``hf:``) the final text is counted once, and any
difference is fixed by re-cutting the last piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from babilong.errors import BabilongError
from babilong.haystack import Corpus
from babilong.rng import Rng
from babilong.sample import FactPosition, InputText
from babilong.tokens import Tokenizer, count_tokens, count_tokens_of_chunks

MAX_CUT_TRIES = 200


class StoryTooLong(Exception):
    """The facts alone need more tokens than the budget."""


@dataclass(frozen=True)
class BuiltInput:
    input: InputText  # pieces of the corpus text: written chunk by chunk, never joined (see ``text``)
    token_count: int
    fact_positions: tuple[FactPosition, ...]
    background_reused: bool

    @property
    def text(self) -> str:
        """The input as one string (a 100M-token input is 400 MB: write ``input.chunks()`` instead)."""
        return self.input.join()


@dataclass(frozen=True)
class _Passage:
    """Consecutive background sentences in reading order, as index ranges into the corpus."""

    ranges: list[tuple[int, int]]
    tail: list[int]  # the sentences that follow, for filling the last few tokens
    reused: bool


def build_input(
    facts: Sequence[str],
    corpus: Corpus | None,
    tokenizer: Tokenizer,
    target: int,
    rng_keys: tuple,
    depth: tuple[float, float] = (0.0, 100.0),
    allow_reuse: bool = True,
) -> BuiltInput:
    """Facts in order at random sentence boundaries of a passage; exactly ``target`` tokens.

    ``target == 0`` means the facts alone. Raises ``StoryTooLong`` if they don't fit.
    """
    fact_tokens = [len(ids) for ids in tokenizer.encode_batch([" " + f for f in facts])]
    if target == 0 or corpus is None:
        return _facts_only(facts, fact_tokens, tokenizer)
    budget = target - sum(fact_tokens)
    if budget < 0:
        raise StoryTooLong(f"the facts need {sum(fact_tokens)} tokens, more than the {target} available")
    for _ in range(8):  # a second round only when the first piece's own count overshoots
        rng = Rng(*rng_keys, "background")
        passage = _walk(corpus, budget, rng, allow_reuse)
        pieces, counts, fact_slots = _interleave(facts, fact_tokens, corpus, passage, target, depth, rng)
        counts[0] = _first_piece_tokens(pieces[0], counts[0], corpus, tokenizer)  # it has no space before it
        missing = target - sum(counts)
        if missing >= 0:
            break
        budget += missing
    else:
        # the facts leave too little room for whole sentences around them: another story may fit
        raise StoryTooLong(f"the facts ({sum(fact_tokens)} tokens) leave no room for whole sentences in {target}")
    body = len(pieces)
    for _ in range(8):
        del pieces[body:], counts[body:]
        _fill_tail(pieces, counts, missing, corpus, passage.tail, tokenizer)
        text = InputText(tuple(pieces), corpus.text)
        if _counts_add_up(tokenizer, pieces):
            difference = target - sum(counts)
        else:
            difference = target - count_tokens_of_chunks(tokenizer, text.chunks())
        if difference == 0:
            return BuiltInput(text, target, _positions(text, counts, fact_slots, target), passage.reused)
        missing += difference  # counts did not add up (not a byte-level BPE): refill the tail
        if missing < 0:
            break
    raise BabilongError(f"tokenizer {tokenizer.name!r} does not allow an exact count of {target} tokens here: try --tokenizer gpt2")


def _facts_only(facts: Sequence[str], fact_tokens: list[int], tokenizer: Tokenizer) -> BuiltInput:
    text = InputText(tuple(facts))
    counts = list(fact_tokens)
    counts[0] = len(tokenizer.encode(facts[0]))
    total = count_tokens(tokenizer, text.join())
    return BuiltInput(text, total, _positions(text, counts, list(range(len(facts))), total), False)


def _walk(corpus: Corpus, budget: int, rng: Rng, allow_reuse: bool) -> _Passage:
    """From a random sentence of a random book, read on through the books in a seeded order.

    The reading order is a cycle over every sentence, so the passage repeats text exactly
    when it needs more tokens than the corpus holds.
    """
    reused = budget >= corpus.total_tokens
    if reused and not allow_reuse:
        raise BabilongError(
            f"the haystack {corpus.name!r} has {corpus.total_tokens:,} tokens, fewer than the {budget:,} this "
            "sample needs: use a bigger corpus, or drop --no-reuse to read the books again"
        )
    bounds, cumulative = corpus.book_bounds, corpus.cumulative
    order = [b for b in range(len(bounds) - 1) if bounds[b + 1] > bounds[b]]
    rng.shuffle(order)
    book_at = 0
    position = int(bounds[order[0]]) + rng.below(int(bounds[order[0] + 1] - bounds[order[0]]))
    ranges: list[tuple[int, int]] = []
    remaining = budget
    while True:
        book_end = int(bounds[order[book_at] + 1])
        stop = int(np.searchsorted(cumulative, cumulative[position] + remaining, side="right")) - 1
        stop = min(stop, book_end)
        if stop > position:
            ranges.append((position, stop))
            remaining -= int(cumulative[stop] - cumulative[position])
        if stop < book_end:  # the next sentence does not fit: the passage is complete
            return _Passage(ranges, _tail(order, book_at, stop, bounds), reused)
        book_at = (book_at + 1) % len(order)
        position = int(bounds[order[book_at]])


def _tail(order: list[int], book_at: int, stop: int, bounds: np.ndarray, size: int = MAX_CUT_TRIES) -> list[int]:
    """The sentences after ``stop`` in reading order (wrapping to the next books)."""
    tail: list[int] = []
    position = stop
    for step in range(len(order) + 1):
        book_end = int(bounds[order[(book_at + step) % len(order)] + 1])
        tail.extend(range(position, min(book_end, position + size - len(tail))))
        if len(tail) >= size:
            break
        position = int(bounds[order[(book_at + step + 1) % len(order)]])
    return tail


def _interleave(facts, fact_tokens, corpus: Corpus, passage: _Passage, target: int, depth, rng: Rng):
    """The text in order, as pieces with token counts: runs of background sentences (spans of the
    corpus text) and facts."""
    sentence_tokens = [corpus.tokens[a:b] for a, b in passage.ranges]
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(sentence_tokens))]) if sentence_tokens else np.zeros(1, np.int64)
    low, high = depth[0] / 100 * target, depth[1] / 100 * target
    allowed = np.flatnonzero((offsets >= low) & (offsets <= high))  # gap i = after i sentences
    if len(allowed) == 0:
        allowed = np.array([int(np.argmin(np.abs(offsets - (low + high) / 2)))])
    gaps = sorted(int(allowed[rng.below(len(allowed))]) for _ in facts)
    pieces: list[str | tuple[int, int]] = []
    counts: list[int] = []
    fact_slots: list[int] = []

    def background(first: int, last: int) -> None:
        if last > first:
            pieces.append((int(corpus.starts[first]), int(corpus.ends[last - 1])))
            counts.append(int(corpus.cumulative[last] - corpus.cumulative[first]))

    def fact(index: int) -> None:
        fact_slots.append(len(pieces))
        pieces.append(facts[index])
        counts.append(fact_tokens[index])

    placed = 0
    run_start = 0  # position of the run's first sentence in the passage
    for first, last in passage.ranges:
        cursor = first
        while placed < len(gaps) and gaps[placed] < run_start + (last - first):
            split = first + gaps[placed] - run_start
            background(cursor, split)
            fact(placed)
            cursor = split
            placed += 1
        background(cursor, last)
        run_start += last - first
    for index in range(placed, len(facts)):
        fact(index)
    return pieces, counts, fact_slots


def _fill_tail(pieces, counts, missing: int, corpus: Corpus, tail: list[int], tokenizer: Tokenizer) -> None:
    """Append whole sentences, then one cut to exactly ``missing`` tokens."""
    for index in tail:
        if missing == 0:
            return
        sentence = corpus.text[corpus.starts[index]:corpus.ends[index]]
        ids = tokenizer.encode(" " + sentence)
        if len(ids) <= missing:
            pieces.append(sentence)
            counts.append(len(ids))
            missing -= len(ids)
            continue
        cut = _cut(ids, missing, tokenizer)
        if cut is not None:
            pieces.append(cut)
            counts.append(missing)
            return
    if missing:
        raise BabilongError(f"could not fill the last {missing} tokens exactly from {corpus.name!r}")


def _cut(ids: list[int], size: int, tokenizer: Tokenizer) -> str | None:
    """The first ``size`` tokens of a sentence, if they re-encode to exactly ``size`` tokens."""
    text = tokenizer.decode(ids[:size])
    if not text.startswith(" ") or text != text.rstrip() or "\ufffd" in text:
        return None
    piece = text[1:]
    if not piece or piece != piece.lstrip():
        return None
    return piece if len(tokenizer.encode(" " + piece)) == size else None


def _counts_add_up(tokenizer: Tokenizer, pieces) -> bool:
    """Whether the text's count is the sum of its pieces' counts: a tokenizer whose counts add
    up at single spaces, and no piece empty or with whitespace at an edge (corpus spans never are)."""
    if not getattr(tokenizer, "counts_add_up_at_spaces", False):
        return False
    return all(isinstance(piece, tuple) or (piece and not piece[0].isspace() and not piece[-1].isspace()) for piece in pieces)


def _first_piece_tokens(piece: str | tuple[int, int], count_with_space: int, corpus: Corpus, tokenizer: Tokenizer) -> int:
    """The tokens of the input's first piece, which has no space before it.

    A run of background sentences can be millions of characters: where counts add up, only
    its first sentence is encoded again, without the space.
    """
    if not isinstance(piece, tuple) or not getattr(tokenizer, "counts_add_up_at_spaces", False):
        return len(tokenizer.encode(_text_of(piece, corpus)))
    sentence = int(np.searchsorted(corpus.starts, piece[0]))
    alone = len(tokenizer.encode(corpus.text[piece[0]:int(corpus.ends[sentence])]))
    return count_with_space - int(corpus.tokens[sentence]) + alone


def _text_of(piece: str | tuple[int, int], corpus: Corpus) -> str:
    return corpus.text[piece[0]:piece[1]] if isinstance(piece, tuple) else piece


def _positions(text: InputText, counts, fact_slots, total: int) -> tuple[FactPosition, ...]:
    char_starts = text.piece_starts()
    token_starts = np.concatenate([[0], np.cumsum(counts)])
    positions = []
    for slot in fact_slots:
        char = int(char_starts[slot])
        token = int(token_starts[slot])  # a fact's first token carries the joining space
        positions.append(FactPosition(char=char, token=token, depth=round(100 * token / max(total, 1), 4)))
    return tuple(positions)
