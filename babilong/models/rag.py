"""``rag``: retrieve the chunks most like the question, then let a reader model answer from them.

``--model rag --model-args reader=smollm2,reader_args=pretrained=PATH;batch_size=2,top_k=5``:
``reader_args`` holds the reader's own ``key=value`` pairs separated by ``;`` (the outer list
uses commas). The harness calls ``rewrite_sample`` before building each prompt, so the reader
sees the retrieved chunks as the context, and the retrieval (spans, recall) goes into the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from babilong.errors import BabilongError
from babilong.models import int_arg, load_model, parse_pairs
from babilong.models.base import Generation, Model, Prompt
from babilong.models.hf import check_device
from babilong.rag.embedder import DEFAULT_EMBEDDER, Embedder, EmbeddingCache
from babilong.rag.index import INDEX_KINDS
from babilong.rag.retriever import Retriever
from babilong.sample import Sample

ARGS = {
    "reader": "backend that answers from the retrieved chunks (default smollm2; any --model but rag)",
    "reader_args": "the reader's --model-args as key=value pairs separated by ';' (e.g. pretrained=PATH;batch_size=2)",
    "embedder": f"sentence-transformers model name or folder (default {DEFAULT_EMBEDDER}, installed offline)",
    "chunk": "sentence (default) | tokens:N (windows of N GPT-2 tokens)",
    "top_k": "chunks retrieved per question (default 5)",
    "order": "similarity (default: most similar first, as in the paper) | position (story order)",
    "index": "flat (default, exact inner product) | hnsw (approximate, for 10M-token contexts)",
    "embedder_device": "cpu (default) | cuda | mps",
    "embedder_batch_size": "chunks embedded together (default 64)",
}


def parse_reader_args(text: str | None) -> dict[str, str]:
    """``"a=1;b=x"`` -> ``{"a": "1", "b": "x"}`` (``;`` because ``--model-args`` itself uses commas)."""
    return parse_pairs(text, ";", "reader_args", "reader_args=pretrained=PATH;batch_size=2")


class RagModel:
    """A retriever in front of a reader; everything but the context rewrite is the reader's."""

    def __init__(self, retriever: Retriever, reader: Model, reader_name: str) -> None:
        self.retriever = retriever
        self.reader = reader
        self.reader_name = reader_name
        self.name = f"rag+{reader.name}"
        self.context_window = reader.context_window

    def settings(self) -> dict[str, Any]:
        return {**self.retriever.settings(), "reader": self.reader_name, "reader_settings": self.reader.settings()}

    def rewrite_sample(self, sample: Sample) -> tuple[Sample, dict[str, Any]]:
        return self.retriever.rewrite_sample(sample)

    def render(self, prompt: Prompt) -> str:
        return self.reader.render(prompt)

    def count_tokens(self, prompt: Prompt) -> int | None:
        return self.reader.count_tokens(prompt)

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        return self.reader.generate(prompts, max_new_tokens)

    def close(self) -> None:
        self.reader.close()


def load(args: dict[str, str]) -> RagModel:
    reader_name = args.get("reader", "smollm2")
    if reader_name == "rag":
        raise BabilongError("--model rag cannot use rag as its reader: choose reader=smollm2, hf, openai, vllm or echo")
    reader_args = parse_reader_args(args.get("reader_args"))  # every arg is checked before anything loads
    index = args.get("index", "flat")
    if index not in INDEX_KINDS:
        raise BabilongError(f"--model-args index={index!r}: use index=flat (exact) or index=hnsw (approximate)")
    if "embedder_device" in args:
        check_device(args["embedder_device"], "embedder_device")
    retriever = Retriever(
        Embedder(args.get("embedder", DEFAULT_EMBEDDER), batch_size=int_arg(args, "embedder_batch_size", 64),
                 device=args.get("embedder_device", "cpu")),
        chunking=args.get("chunk", "sentence"), top_k=int_arg(args, "top_k", 5), order=args.get("order", "similarity"),
        index=index, cache=EmbeddingCache(),
    )
    retriever.embedder.load()  # a missing embedder fails here, before any run folder is written
    try:
        reader = load_model(reader_name, reader_args)
    except BabilongError as error:
        raise BabilongError(f"rag reader {reader_name!r}: {error}") from None
    except Exception as error:  # a reader library failing to load is reported, not dumped
        raise BabilongError(f"rag reader {reader_name!r} failed to load ({type(error).__name__}: {error}): check reader_args") from None
    return RagModel(retriever, reader, reader_name)
