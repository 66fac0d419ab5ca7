"""Shards for batch schedulers: eval --shard K/N, babilong merge, and report over shard folders."""

import json
import shutil
from collections import Counter

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.runs import MANIFEST, RESULTS
from babilong.shards import Shard, parse_shard, shard_of

COMMON = ["--model", "echo", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--no-progress"]


def records(folder):
    return {r["key"]: r for r in map(json.loads, (folder / RESULTS).read_text().splitlines())}


def without_latency(record):
    return {k: v for k, v in record.items() if k != "latency"}


def test_a_keys_shard_depends_on_the_key_alone_and_every_group_spreads_over_all_shards():
    keys = [f"{task}/{length}/{i}" for task in ("qa1", "qa7") for length in ("0k", "1M") for i in range(200)]
    shards = {key: shard_of(key, 8) for key in keys}
    assert shards == {key: shard_of(key, 8) for key in reversed(keys)}  # order and count do not matter
    for task in ("qa1", "qa7"):
        for length in ("0k", "1M"):
            counts = Counter(shards[f"{task}/{length}/{i}"] for i in range(200))
            assert set(counts) == set(range(8)) and min(counts.values()) >= 10


@pytest.mark.parametrize("text", ["3", "3/3", "-1/4", "a/b", "1/0", "2/1", ""])
def test_a_bad_shard_is_one_line(text):
    with pytest.raises(BabilongError, match="give K/N"):
        parse_shard(text)


def test_shards_merged_equal_the_run_in_one_piece_key_by_key(tmp_path, capsys, small_books):
    data = ["--haystack", str(small_books), "--samples", "5"]
    whole = tmp_path / "whole"
    assert main(["eval", *COMMON, *data, "--output", str(whole)]) == 0
    shards = [tmp_path / f"s{k}" for k in range(3)]
    for k, folder in enumerate(shards):
        assert main(["eval", *COMMON, *data, "--shard", f"{k}/3", "--output", str(folder)]) == 0
        assert json.loads((folder / MANIFEST).read_text())["layout"]["shard"] == {"index": k, "count": 3}
        assert all(Shard(k, 3).holds(key) for key in records(folder))
    merged = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--output", str(merged)]) == 0
    assert "0 samples without a result" in capsys.readouterr().err
    one, joined = records(whole), records(merged)
    assert one.keys() == joined.keys() and len(one) == 20
    assert {k: without_latency(r) for k, r in one.items()} == {k: without_latency(r) for k, r in joined.items()}
    manifest = json.loads((merged / MANIFEST).read_text())
    assert manifest["config_hash"] == json.loads((whole / MANIFEST).read_text())["config_hash"]

    # a requeued job's identical copy is accepted; an unfinished shard is named
    shutil.copytree(shards[0], tmp_path / "s0-again")
    assert main(["merge", str(shards[0]), str(tmp_path / "s0-again"), str(shards[1]), "--output", str(tmp_path / "part")]) == 0
    err = capsys.readouterr().err
    missing = sorted(key for key in one if shard_of(key, 3) == 2)
    assert f"{len(missing)} samples have no result yet ({', '.join(missing[:10])}" in err

    # report over the shard folders shows one run, and marks the cells a missing shard leaves unfinished
    assert main(["report", str(shards[0]), str(shards[1]), "--out", str(tmp_path / "report")]) == 0
    shown = capsys.readouterr().out
    assert "2 shards" in shown and "†" in shown and "unfinished" in shown
    assert "Comparison" not in shown  # one run, not two


def test_merge_refuses_mixed_configurations_and_conflicting_answers(tmp_path, capsys, small_books):
    data = ["--haystack", str(small_books), "--samples", "3", "--lengths", "0k"]
    base = ["--model", "echo", "--tasks", "qa1", "--no-progress", *data]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["eval", *base, "--shard", "0/2", "--output", str(a)]) == 0
    assert main(["eval", *base, "--shard", "1/2", "--seed", "5", "--output", str(b)]) == 0
    assert main(["merge", str(a), str(b), "--output", str(tmp_path / "m")]) == 2
    assert "merge only the shards of one configuration" in capsys.readouterr().err
    shutil.copytree(a, c)
    lines = (c / RESULTS).read_text().splitlines()
    changed = json.loads(lines[0])
    changed["output"] = "something else"
    (c / RESULTS).write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    assert main(["merge", str(a), str(c), "--output", str(tmp_path / "m")]) == 2
    assert f"{changed['key']} has different results" in capsys.readouterr().err
    assert not (tmp_path / "m" / RESULTS).exists()


def test_a_folder_holds_one_shard(tmp_path, capsys, small_books):
    base = ["--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "3", "--no-progress",
            "--haystack", str(small_books), "--output", str(tmp_path / "run")]
    assert main(["eval", *base, "--shard", "0/2"]) == 0
    assert main(["eval", *base, "--shard", "1/2"]) == 2
    assert "holds shard 0/2 of this run, not shard 1/2" in capsys.readouterr().err


@pytest.mark.slow
def test_shards_of_the_embedded_model_equal_its_run_in_one_piece(tmp_path, capsys, small_books):
    base = ["--tasks", "qa1", "--lengths", "0k", "--samples", "3", "--max-new-tokens", "6", "--no-progress",
            "--haystack", str(small_books), "--model-args", "batch_size=1"]
    assert main(["eval", *base, "--output", str(tmp_path / "whole")]) == 0
    for k in range(2):
        assert main(["eval", *base, "--shard", f"{k}/2", "--output", str(tmp_path / f"s{k}")]) == 0
    assert main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--output", str(tmp_path / "merged")]) == 0
    strip = lambda r: {k: r[k] for k in ("status", "output", "scores")}  # noqa: E731
    assert {k: strip(r) for k, r in records(tmp_path / "whole").items()} == \
        {k: strip(r) for k, r in records(tmp_path / "merged").items()}
