"""eval --dry-run: the plan, its tokens and its cost, with no model called and no long sample built."""

import pytest

from babilong.cli import main
from babilong.dry_run import cost, parse_prices
from babilong.errors import BabilongError

UNREACHABLE = "model=m,base_url=http://127.0.0.1:9/v1"  # nothing listens there: a dry run must not call it


def table(out):
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_a_dry_run_plans_tokens_and_cost_without_calling_the_model(capsys, monkeypatch):
    import babilong.generate as generate

    built = []
    real = generate.build_sample
    monkeypatch.setattr(generate, "build_sample", lambda task, length, *a: built.append(length) or real(task, length, *a))
    args = ["eval", "--model", "openai", "--model-args", UNREACHABLE, "--tasks", "qa1", "--lengths", "0k,128k,1M",
            "--samples", "10", "--max-new-tokens", "20", "--dry-run", "--price-per-mtok", "1,10;200k:2,20"]
    assert main(args) == 0
    rows = table(capsys.readouterr().out)
    assert set(built) <= {"0k"}  # only the facts-alone sample is built, to be counted
    samples, done, to_run, tokens, answers, dollars = rows["1M"]
    assert (samples, done, to_run, answers) == ("10", "0", "10", "200")
    per_prompt = int(tokens.replace(",", "")) // 10
    assert 1_000_000 < per_prompt < 1_002_000  # the exact context plus the prompt's own words
    assert float(dollars) == pytest.approx(10 * (per_prompt * 2 + 20 * 20) / 1e6, abs=0.01)  # the tier over 200k
    per_128k = int(rows["128k"][3].replace(",", "")) // 10
    assert float(rows["128k"][5]) == pytest.approx(10 * (per_128k * 1 + 20 * 10) / 1e6, abs=0.01)


def test_a_dry_run_counts_what_is_done_and_the_share_of_each_shard(tmp_path, capsys, small_books):
    common = ["--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--haystack", str(small_books),
              "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(["eval", *common, "--samples", "4"]) == 0
    capsys.readouterr()
    assert main(["eval", *common, "--samples", "10", "--dry-run"]) == 0
    assert table(capsys.readouterr().out)["0k"][:3] == ["10", "4", "6"]
    assert main(["eval", *common[:-3], "--samples", "100", "--dry-run", "--shard", "0/4"]) == 0
    out = capsys.readouterr().out
    shares = out.split("all 4 shards: ")[1].splitlines()[0]
    counts = [int(part.split(": ")[1]) for part in shares.split(", ")]
    assert sum(counts) == 100 and int(table(out)["0k"][0]) == counts[0]


@pytest.mark.parametrize("text", ["1", "a,b", "200k:2,3", "1,2;x:3,4"])
def test_bad_prices_are_one_line(text):
    with pytest.raises(BabilongError, match="--price-per-mtok"):
        parse_prices(text)


def test_the_price_tier_follows_the_prompt_length():
    prices = parse_prices("1,10;200k:2,20")
    assert cost(200_000, 0, prices) == pytest.approx(0.2)
    assert cost(200_001, 100, prices) == pytest.approx((200_001 * 2 + 100 * 20) / 1e6)
