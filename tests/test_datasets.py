import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataclasses import replace

from babilong.datasets import count_samples, load_samples, read_file, sample_writer, write_samples
from babilong.errors import BabilongError
from babilong.sample import FactPosition, InputText, Sample
from babilong.show import render

SAMPLE = Sample(
    input="Once upon a time. Mary went to the garden. The end came.", question="Where is Mary?", target="garden",
    task="qa1", length="1k", index=4, seed=0, token_count=15, tokenizer="gpt2", haystack="gutenberg/test",
    facts=("Mary went to the garden.",), supporting=(0,), fact_positions=(FactPosition(18, 5, 33.3333),),
    extra={"note": "x"},
)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path, suffix):
    path = tmp_path / f"qa1{suffix}"
    write_samples([SAMPLE, SAMPLE], path)
    assert read_file(path) == [SAMPLE, SAMPLE]
    assert not list(tmp_path.glob(".*partial"))


# every character JSON escapes, a two-byte and a four-byte UTF-8 character, and long spans, cut at many places
AWKWARD = 'He said "go\\home"\n\tat once.\x01\x1f Caf\u00e9 \U0001F600 ' * 40


@pytest.mark.parametrize("chunk", [2, 3, 7, 64, 10_000])
def test_an_input_written_chunk_by_chunk_gives_the_same_bytes_as_written_whole(tmp_path, chunk, monkeypatch):
    import babilong.sample as sample_module

    text = InputText(("first fact.", (5, 900), "a \"quoted\" fact", (0, len(AWKWARD)), (33, 34)), AWKWARD)
    whole = replace(SAMPLE, input=" ".join([text.pieces[0], AWKWARD[5:900], text.pieces[2], AWKWARD, AWKWARD[33:34]]))
    assert text.join() == whole.input and len(text) == len(whole.input)
    monkeypatch.setattr(sample_module, "CHUNK_CHARACTERS", chunk)
    for suffix in (".jsonl", ".parquet"):
        with sample_writer(tmp_path / f"whole{suffix}") as write:
            write(whole)
            write(SAMPLE)
        with sample_writer(tmp_path / f"pieces{suffix}") as write:
            write(replace(whole, input=""), text)
            write(SAMPLE)
        assert (tmp_path / f"pieces{suffix}").read_bytes() == (tmp_path / f"whole{suffix}").read_bytes()
    assert read_file(tmp_path / "pieces.jsonl") == [whole, SAMPLE]


@pytest.mark.parametrize("size", [2, 5, 64, 1 << 16])
def test_an_input_is_handed_out_in_chunks_of_at_most_the_chunk_size(size):
    text = InputText(("a", (0, len(AWKWARD)), "", "fact.", (10, 10), (7, 300)), AWKWARD)
    chunks = list(text.chunks(size))
    assert "".join(chunks) == " ".join(["a", AWKWARD, "", "fact.", "", AWKWARD[7:300]])
    assert max(len(chunk) for chunk in chunks) <= size
    assert text.piece_starts() == [0, 2, 3 + len(AWKWARD), 4 + len(AWKWARD), 10 + len(AWKWARD), 11 + len(AWKWARD)]


def test_a_streamed_sample_must_leave_its_input_empty(tmp_path):
    with pytest.raises(ValueError, match="empty input"):
        with sample_writer(tmp_path / "x.jsonl") as write:
            write(SAMPLE, InputText(("text",)))
    assert not list(tmp_path.iterdir())


def test_local_copy_of_the_published_hub_layout(tmp_path):
    (tmp_path / "4k").mkdir()
    rows = [{"input": f"text {i}", "question": "Where is John?", "target": "hallway"} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "4k" / "qa2-00000-of-00001.parquet")
    samples = load_samples(tmp_path, ["qa2"], ["4k"], limit=3)
    assert [s.key for s in samples] == ["qa2/4k/0", "qa2/4k/1", "qa2/4k/2"]
    assert samples[1].input == "text 1" and samples[1].token_count is None
    with pytest.raises(BabilongError, match="no qa3 data for length 4k"):
        load_samples(tmp_path, ["qa3"], ["4k"])


def _hub_shard(folder, name, first, count):
    rows = [{"input": f"text {first + i}", "question": "Where is Mary?", "target": "garden"} for i in range(count)]
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / name)


def test_every_shard_of_a_task_is_read_in_order(tmp_path):
    # as the published babilong-1k-samples ships 128k/qa1: two shards of 10
    _hub_shard(tmp_path / "128k", "qa1-00001-of-00002.parquet", 10, 10)
    _hub_shard(tmp_path / "128k", "qa1-00000-of-00002.parquet", 0, 10)
    samples = load_samples(tmp_path, ["qa1"], ["128k"], limit=20)
    assert [s.input for s in samples] == [f"text {i}" for i in range(20)]
    assert [s.index for s in samples] == list(range(20))
    assert count_samples(tmp_path, "qa1", "128k") == 20
    assert len(load_samples(tmp_path, ["qa1"], ["128k"], limit=12)) == 12
    assert len(load_samples(tmp_path, ["qa1"], ["128k"], limit=50)) == 20  # the caller sees the shortfall


def test_a_missing_shard_is_an_error(tmp_path):
    _hub_shard(tmp_path / "128k", "qa1-00000-of-00003.parquet", 0, 5)
    _hub_shard(tmp_path / "128k", "qa1-00002-of-00003.parquet", 10, 5)
    with pytest.raises(BabilongError, match="shards .* are incomplete"):
        load_samples(tmp_path, ["qa1"], ["128k"])


def test_corrupt_and_foreign_files_name_the_problem(tmp_path):
    path = tmp_path / "qa1.jsonl"
    path.write_text(json.dumps(SAMPLE.to_record()) + "\n{not json\n")
    with pytest.raises(BabilongError, match="line 2 is not valid JSON"):
        read_file(path)
    path.write_text(json.dumps({"text": "no babilong fields"}) + "\n")
    with pytest.raises(BabilongError, match="lacks the field"):
        read_file(path, "qa1", "1k")


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BabilongError, match="cannot write"):
        write_samples([SAMPLE], blocker / "sub" / "qa1.jsonl")


def test_show_highlights_the_facts():
    shown = render(SAMPLE)
    assert "[[Mary went to the garden.]]" in shown
    assert "fact 0 at char 18, 33.3% deep (supporting)" in shown and "target:   garden" in shown
