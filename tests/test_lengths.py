import pytest

from babilong.errors import BabilongError
from babilong.lengths import length_tokens, parse_lengths


@pytest.mark.parametrize(("label", "tokens"), [("0k", 0), ("1k", 1000), ("128k", 128_000), ("1M", 1_000_000),
                                                ("10M", 10_000_000), ("1500", 1500), ("2.5M", 2_500_000), ("64K", 64_000)])
def test_length_tokens(label, tokens):
    assert length_tokens(label) == tokens


def test_ranges_follow_the_ladder():
    assert parse_lengths("0k-32k") == ["0k", "1k", "2k", "4k", "8k", "16k", "32k"]
    assert parse_lengths("128k-10M") == ["128k", "256k", "512k", "1M", "2M", "10M"]
    assert parse_lengths("4K,1m,1500,4k") == ["4k", "1M", "1500"]


@pytest.mark.parametrize("bad", ["4x", "k", "-1k", "1.5", "32k-0k", "", "3k-3k"])
def test_malformed_lengths_are_rejected(bad):
    with pytest.raises(BabilongError):
        parse_lengths(bad)
