import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from babilong.datasets import load_samples, read_file, write_samples
from babilong.errors import BabilongError
from babilong.sample import FactPosition, Sample
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


def test_local_copy_of_the_published_hub_layout(tmp_path):
    (tmp_path / "4k").mkdir()
    rows = [{"input": f"text {i}", "question": "Where is John?", "target": "hallway"} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "4k" / "qa2-00000-of-00001.parquet")
    samples = load_samples(tmp_path, ["qa2"], ["4k"], limit=3)
    assert [s.key for s in samples] == ["qa2/4k/0", "qa2/4k/1", "qa2/4k/2"]
    assert samples[1].input == "text 1" and samples[1].token_count is None
    with pytest.raises(BabilongError, match="no qa3 data for length 4k"):
        load_samples(tmp_path, ["qa3"], ["4k"])


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
