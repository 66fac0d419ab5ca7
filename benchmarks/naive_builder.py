"""The reference approach, as a baseline: tokenize background sentence by sentence while
filling the budget, then tokenize the whole result to trim it to length."""

from __future__ import annotations

from babilong.generate import make_story
from babilong.haystack import get_source, split_sentences
from babilong.lengths import length_tokens
from babilong.rng import Rng
from babilong.tokens import get_tokenizer


def naive_sample(length: str) -> int:
    tokenizer = get_tokenizer("gpt2")
    target = length_tokens(length)
    story = make_story("qa1", 0, 0)
    budget = target - len(tokenizer.encode(" ".join(story.facts)))
    rng = Rng("naive")
    books = get_source("gutenberg").books("test")
    sentences: list[str] = []
    used = 0
    book = rng.below(len(books))
    while used < budget:  # reads and splits books as it goes, like the reference generator
        for sentence in split_sentences(books[book].read()):
            sentences.append(sentence)
            used += len(tokenizer.encode(" " + sentence))
            if used >= budget:
                break
        book = (book + 1) % len(books)
    gaps = sorted(rng.below(len(sentences) + 1) for _ in story.facts)
    for fact, gap in reversed(list(zip(story.facts, gaps))):
        sentences.insert(gap, fact)
    ids = tokenizer.encode(" ".join(sentences))[:target]
    return len(tokenizer.encode(tokenizer.decode(ids)))
