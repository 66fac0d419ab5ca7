"""Prompts rendered and counted one way for hf, vllm and openai (``models/chat_tokenizer.py``), on SmolLM2's tokenizer."""

import copy

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
