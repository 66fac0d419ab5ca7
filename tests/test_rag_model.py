"""The rag backend inside the harness: the context rewrite, retrieval in records and reports."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.models.echo import EchoModel
from babilong.models.rag import RagModel, parse_reader_args
from babilong.prompts import PromptConfig
from babilong.rag.embedder import EmbeddingCache
from babilong.rag.retriever import Retriever
from babilong.report import heatmap, markdown
from babilong.tables import build_table
from babilong.rag.recall import RECALL_VERSION
from babilong.pipeline import evaluate
from babilong.runs import RESULTS, ResultStore, RunConfig, read_results
from tests.test_rag import BACKGROUND, WordsEmbedder, make_sample


def test_reader_args_use_semicolons():
    assert parse_reader_args("pretrained=/m;batch_size=2") == {"pretrained": "/m", "batch_size": "2"}
    assert parse_reader_args("") == {}
    with pytest.raises(BabilongError, match="separated by ';'"):
        parse_reader_args("pretrained")


def test_bad_reader_is_one_clean_error():
    with pytest.raises(BabilongError, match="cannot use rag as its reader"):
        load_model("rag", {"reader": "rag"})
    with pytest.raises(BabilongError, match="rag reader 'echo'.*does not take"):
        load_model("rag", {"reader": "echo", "reader_args": "colour=red"})
    with pytest.raises(BabilongError, match="unknown order"):
        load_model("rag", {"reader": "echo", "order": "random"})


def test_rag_run_records_retrieval_and_reports_recall(tmp_path):
    facts = ["Mary went to the garden.", "John went to the office.", "Mary travelled to the kitchen."]
    samples = [make_sample(BACKGROUND, facts, [1, 4, 6], [2], "Where is Mary?")]
    samples.append(replace(make_sample(BACKGROUND, facts[:2], [2, 5], [0], "Where is Mary?"), index=1))
    retriever = Retriever(WordsEmbedder(), top_k=2, order="position", cache=EmbeddingCache(tmp_path / "cache"))
    model = RagModel(retriever, EchoModel(None, None), "echo")
    config = RunConfig(model="rag", model_settings=model.settings(), prompt=PromptConfig(examples=False, instruction=False,
                       post_prompt=False), max_new_tokens=5, data={"source": "hand-made"})
    store = ResultStore(tmp_path / "run", config)
    evaluate(samples, model, config, store, progress=False)
    store.close()
    records = {r["key"]: r for r in map(json.loads, (tmp_path / "run" / RESULTS).read_text().splitlines())}
    first = records[samples[0].key]
    spans = first["retrieval"]["chunks"]
    assert [samples[0].input[a:b] for a, b in spans] == ["Mary went to the garden.", "Mary travelled to the kitchen."]
    assert first["retrieval"]["recall"] == 1.0 and first["output"] == "kitchen"  # echo: the context's last word
    assert "John went to the office." not in first["prompt"]
    assert first["scorer_versions"]["retrieval_recall"] == RECALL_VERSION  # recall is a scorer, versioned
    stale = [{**r, "retrieval": {k: v for k, v in r["retrieval"].items() if k != "recall"}, "scorer_versions": {}}
             for r in records.values()]
    (tmp_path / "old.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    assert read_results(tmp_path / "old.jsonl").records[samples[0].key]["retrieval"]["recall"] == 1.0
    table = build_table(records, "babilong", "rag")
    assert table.cells[("qa2", "1k")].rate("retrieval_recall") == pytest.approx(100.0 * sum(r["retrieval"]["recall"] for r in records.values()) / 2)
    assert "Retrieval recall %" in markdown(table)
    heatmap([table], tmp_path / "heatmap.png")  # accuracy with the recall under it
    assert (tmp_path / "heatmap.png").stat().st_size > 0
