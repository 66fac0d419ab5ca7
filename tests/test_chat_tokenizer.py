"""Prompts rendered and counted one way for hf, vllm and openai (``models/chat_tokenizer.py``), on SmolLM2's tokenizer."""

import copy
import sys

import pytest

from babilong.models.base import Prompt
from babilong.models.chat_tokenizer import ChatTokenizer

CHAT = Prompt("Mary went to the kitchen. Where is Mary?", system="Answer in one word.")
PLAIN = Prompt(CHAT.user, system=CHAT.system, chat=False)


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from babilong.models.smollm2 import model_folder

    return AutoTokenizer.from_pretrained(model_folder(), local_files_only=True)


@pytest.fixture(scope="module")
def with_bos(tokenizer):
    """SmolLM2's tokenizer made to start plain text with a special token, as many tokenizers do."""
    from tokenizers.processors import TemplateProcessing

    changed = copy.deepcopy(tokenizer)
    first = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    changed._tokenizer.post_processor = TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", first)])
    return changed


def test_a_chat_prompt_goes_through_the_template_and_a_plain_one_does_not(tokenizer):
    chat = ChatTokenizer(tokenizer)
    rendered = chat.render(CHAT)
    assert rendered.startswith("<|im_start|>system\nAnswer in one word.<|im_end|>")
    assert rendered.endswith("<|im_start|>assistant\n") and CHAT.user in rendered
    assert chat.render(PLAIN) == "Answer in one word.\n\nMary went to the kitchen. Where is Mary?"
    assert chat.count_tokens(CHAT) == len(tokenizer.encode(rendered, add_special_tokens=False)) > chat.count_tokens(PLAIN)


def test_special_tokens_are_added_to_plain_text_only(tokenizer, with_bos):
    plain, bos = ChatTokenizer(tokenizer), ChatTokenizer(with_bos)
    assert bos.count_tokens(PLAIN) == plain.count_tokens(PLAIN) + 1
    assert bos.count_tokens(CHAT) == plain.count_tokens(CHAT)  # the template writes its own
    assert bos.encode(PLAIN)[0] == with_bos.convert_tokens_to_ids("<|endoftext|>")


def test_template_options_reach_the_template_and_a_tokenizer_without_one_gives_plain_text(tokenizer):
    themed = copy.deepcopy(tokenizer)
    themed.chat_template = "{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}{{ 'short' if brief else 'long' }}"
    assert ChatTokenizer(themed, {"brief": True}).render(CHAT).endswith("short")
    assert ChatTokenizer(themed, {"brief": False}).render(CHAT).endswith("long")
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    assert ChatTokenizer(bare).render(CHAT) == PLAIN.plain_text()


class Counting:
    """A tokenizer that counts how often it renders and tokenizes."""

    def __init__(self, inner) -> None:
        self.inner, self.chat_template, self.calls = inner, inner.chat_template, {"render": 0, "tokenize": 0}

    def apply_chat_template(self, *args, **kwargs):
        self.calls["render"] += 1
        return self.inner.apply_chat_template(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        self.calls["tokenize"] += 1
        return self.inner(*args, **kwargs)


def test_a_prompt_counted_stored_and_sent_is_rendered_and_tokenized_once(tokenizer):
    counting = Counting(tokenizer)
    chat = ChatTokenizer(counting, keep=2)
    long_prompt = Prompt("Mary went to the kitchen. " * 2000 + "Where is Mary?")
    tokens, stored = chat.count_tokens(long_prompt), chat.render(long_prompt)
    assert chat.encode(long_prompt) == tokenizer(stored, add_special_tokens=False)["input_ids"]
    assert len(chat.encode(long_prompt)) == tokens and counting.calls == {"render": 1, "tokenize": 1}
    for other in (CHAT, Prompt("Where is John?")):  # two newer prompts push the first out of memory
        chat.count_tokens(other)
    assert chat.count_tokens(long_prompt) == tokens and counting.calls == {"render": 4, "tokenize": 4}


def stand_in_vllm(tokenizer, handed: list):
    """A ``vllm`` module whose engine keeps what it is handed and answers 'kitchen'."""
    from types import ModuleType, SimpleNamespace

    class LLM:
        def __init__(self, **settings) -> None:
            self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=settings["max_model_len"] or 8192))

        def get_tokenizer(self):
            return tokenizer

        def generate(self, prompts, sampling):
            handed.extend(prompts)
            answer = SimpleNamespace(text="kitchen", token_ids=[1, 2], finish_reason="stop")
            return [SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[answer]) for p in prompts]

    module = ModuleType("vllm")
    module.LLM, module.SamplingParams = LLM, lambda **settings: SimpleNamespace(**settings)
    return module


def test_vllm_reads_the_ids_that_were_counted_with_no_second_special_token(with_bos, monkeypatch):
    from babilong.models.vllm import VLLMModel

    handed = []
    monkeypatch.setitem(sys.modules, "vllm", stand_in_vllm(with_bos, handed))
    model = VLLMModel({"pretrained": "stand-in"})
    answers = dict(model.generate([CHAT, PLAIN], max_new_tokens=5))
    ids = [p["prompt_token_ids"] for p in handed]
    assert ids == [ChatTokenizer(with_bos).encode(CHAT), ChatTokenizer(with_bos).encode(PLAIN)]
    assert [len(i) for i in ids] == [model.count_tokens(CHAT), model.count_tokens(PLAIN)]
    start = with_bos.convert_tokens_to_ids("<|endoftext|>")
    assert ids[0][0] != start and ids[1][0] == start  # the template brings its own start; plain text gets one
    assert answers[0].output == "kitchen" and answers[1].prompt_tokens == len(ids[1])
