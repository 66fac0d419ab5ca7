import pytest

from babilong.builder import StoryTooLong, build_input
from babilong.errors import BabilongError
from babilong.haystack import get_source, prepare
from babilong.tokens import count_tokens_of_chunks

FACTS = ["Mary moved to the bathroom.", "John went to the hallway.", "Mary travelled to the office."]


@pytest.fixture(scope="module")
def corpus(small_books, gpt2, tmp_path_factory):
    return prepare(get_source(str(small_books)), "all", gpt2, cache=tmp_path_factory.mktemp("prepared"))


@pytest.mark.parametrize("target", [30, 100, 1000, 4000, 16_000, 64_000, 1_000_000])
def test_exact_token_count_and_fact_positions(corpus, gpt2, target):
    built = build_input(FACTS, corpus, gpt2, target, (0, "qa1", target, 7))
    ids = gpt2.encode(built.text)
    assert len(ids) == built.token_count == target
    for fact, position in zip(FACTS, built.fact_positions):
        assert built.text[position.char:position.char + len(fact)] == fact
        assert gpt2.decode(ids[position.token:position.token + len(gpt2.encode(" " + fact))]).strip() == fact
        assert position.depth == pytest.approx(100 * position.token / target, abs=1e-3)
    assert [p.char for p in built.fact_positions] == sorted(p.char for p in built.fact_positions)
    assert built.background_reused == (target > corpus.total_tokens)


def test_many_seeds_all_exact(corpus, gpt2):
    for index in range(60):
        built = build_input(FACTS, corpus, gpt2, 2000 + index, (1, "qa2", "2k", index))
        assert len(gpt2.encode(built.text)) == 2000 + index


def test_facts_only_at_zero_length(gpt2):
    built = build_input(FACTS, None, gpt2, 0, (0,))
    assert built.text == " ".join(FACTS)
    assert built.token_count == len(gpt2.encode(built.text))


def test_same_keys_same_text_other_keys_other_text(corpus, gpt2):
    one = build_input(FACTS, corpus, gpt2, 4000, (0, "qa1", "4k", 3))
    assert build_input(FACTS, corpus, gpt2, 4000, (0, "qa1", "4k", 3)) == one
    assert build_input(FACTS, corpus, gpt2, 4000, (1, "qa1", "4k", 3)).text != one.text


@pytest.mark.parametrize("window", [(0, 10), (40, 60), (90, 100), (50, 50)])
def test_depth_window(corpus, gpt2, window):
    for index in range(10):
        built = build_input(FACTS, corpus, gpt2, 8000, (0, "depth", index), depth=window)
        for position in built.fact_positions:
            # the window is over the background; a fact's own earlier facts shift it by a few tokens
            assert window[0] - 1 <= position.depth <= window[1] + 1


def test_story_longer_than_budget(corpus, gpt2):
    with pytest.raises(StoryTooLong):
        build_input(FACTS, corpus, gpt2, 10, (0,))


def test_reuse_is_recorded_or_refused(corpus, gpt2):
    big = corpus.total_tokens + 5000
    built = build_input(FACTS, corpus, gpt2, big, (0, "big"))
    assert built.background_reused and len(gpt2.encode(built.text)) == big
    with pytest.raises(BabilongError, match=f"{corpus.total_tokens:,} tokens"):
        build_input(FACTS, corpus, gpt2, big, (0, "big"), allow_reuse=False)


def test_long_texts_are_counted_exactly_in_pieces(corpus, gpt2, monkeypatch):
    from babilong import tokens
    from babilong.tokens import count_tokens, word_starts

    monkeypatch.setattr(tokens, "COUNT_PIECE", 10_000)
    text = corpus.text[:3_000_000] + " 'tis  odd\n ending ."
    cuts = list(word_starts(text, size=10_000))
    assert len(cuts) >= 25 and all(text[c] == " " and not text[c - 1].isspace() and not text[c + 1].isspace() for c in cuts)
    assert count_tokens(gpt2, text) == len(gpt2.encode(text))


@pytest.mark.parametrize("chunk", [1, 7, 999, 10_000, 25_000])
def test_a_text_in_chunks_is_cut_and_counted_as_the_whole_text_is(corpus, gpt2, chunk):
    from babilong.tokens import word_pieces, word_starts

    text = corpus.text[:300_000] + "  two  spaces \n and a space at the end "
    cuts = [0, *word_starts(text, size=10_000), len(text)]
    chunks = [text[at:at + chunk] for at in range(0, len(text), chunk)]
    assert list(word_pieces(chunks, size=10_000)) == [text[a:b] for a, b in zip(cuts, cuts[1:])]
    assert gpt2.count_chunks(chunks) == gpt2.count(text) == len(gpt2.encode(text))


def test_a_long_input_is_held_as_spans_of_the_corpus_not_as_a_copy(corpus, gpt2):
    built = build_input(FACTS, corpus, gpt2, 200_000, (0, "qa1", "200k", 1))
    spans = [piece for piece in built.input.pieces if isinstance(piece, tuple)]
    strings = [piece for piece in built.input.pieces if isinstance(piece, str)]
    assert built.input.source is corpus.text and sum(b - a for a, b in spans) > 0.99 * len(built.text)
    assert sum(map(len, strings)) < 2_000  # the facts and the last few tokens


def test_tiktoken_inputs_are_counted_from_their_pieces_without_tokenizing_the_text(corpus, gpt2, monkeypatch):
    import babilong.builder as builder

    def no_full_count(*_):
        raise AssertionError("the whole text was tokenized")

    monkeypatch.setattr(builder, "count_tokens_of_chunks", no_full_count)
    for index in range(8):  # the first piece a long run of sentences or a fact, facts at every depth
        built = build_input(FACTS, corpus, gpt2, 150_000, (3, "qa1", "150k", index))
        assert len(gpt2.encode(built.text)) == built.token_count == 150_000


def test_pieces_with_whitespace_at_an_edge_are_counted_in_full(corpus, gpt2, monkeypatch):
    import babilong.builder as builder

    counted = []
    monkeypatch.setattr(builder, "count_tokens_of_chunks", lambda *args: counted.append(1) or count_tokens_of_chunks(*args))
    facts = ["Mary moved to the bathroom.  ", "\tJohn went to the hallway.", "Mary travelled to the office. \n"]
    for index in range(5):
        built = build_input(facts, corpus, gpt2, 3000, (0, "qa1", "3k", index))
        assert len(gpt2.encode(built.text)) == built.token_count == 3000
    assert len(counted) >= 5  # the sum of the pieces' counts is not trusted for them
