"""Prompt parts, toggles, names and few-shot examples."""

from dataclasses import replace

import pytest

from babilong.errors import BabilongError
from babilong.prompts import PARTS, PromptConfig, build_prompt, examples_block, few_shot_stories, parse_prompt_config
from babilong.sample import Sample
from babilong.tasks import all_tasks, get_task

SAMPLE = Sample(input="Mary went to the office. Some book text.", question="Where is Mary?", target="office",
                task="qa1", length="0k")


def test_full_prompt_has_every_part_in_order_with_the_question_last():
    prompt = build_prompt(SAMPLE, PromptConfig())
    text = prompt.user
    positions = [text.index("Answer the question using only those facts"), text.index("<example>"),
                 text.index("Answer with one word only"), text.rindex("<context>\nMary went to the office. Some book text."),
                 text.rindex("</context>\n\nQuestion: Where is Mary?")]
    assert positions == sorted(positions)
    assert text.endswith("Question: Where is Mary?")
    assert prompt.system and prompt.chat


@pytest.mark.parametrize("part", PARTS)
def test_each_part_switches_off_alone(part):
    config = PromptConfig(**{part: False})
    prompt = build_prompt(SAMPLE, config)
    markers = {"instruction": "using only those facts", "examples": "<example>", "post_prompt": "Answer with one word"}
    for name, marker in markers.items():
        assert (marker in prompt.user) is (name != part)
    assert (prompt.system is not None) is (part != "system_prompt")
    assert prompt.chat is (part != "chat_template")
    assert f"{part}_no" in config.name


def test_bare_prompt_is_context_and_question_only():
    prompt = build_prompt(SAMPLE, parse_prompt_config("bare"))
    assert prompt.user == "<context>\nMary went to the office. Some book text.\n</context>\n\nQuestion: Where is Mary?"
    assert prompt.system is None and prompt.plain_text() == prompt.user


def test_names_round_trip_like_the_leaderboard():
    full = PromptConfig()
    assert full.name == "instruction_yes_examples_yes_post_prompt_yes_chat_template_yes_system_prompt_yes"
    mixed = PromptConfig(examples=False, system_prompt=False)
    assert parse_prompt_config(mixed.name) == mixed
    assert parse_prompt_config("full") == full
    assert parse_prompt_config("full", "Be terse.").system_text == "Be terse."


@pytest.mark.parametrize("bad", ["instruction_maybe", "instruction_yes_examples_yes", "full_please",
                                 PromptConfig().name + "_extra"])
def test_bad_prompt_names_are_user_errors(bad):
    with pytest.raises(BabilongError, match="--prompt"):
        parse_prompt_config(bad)


def test_examples_come_from_the_generator_with_fixed_seeds_and_are_short():
    stories = few_shot_stories("qa2")
    assert len(stories) == 2 and all(len(s.facts) <= 10 for s in stories)
    block = examples_block("qa2")
    for story in stories:
        assert f"Question: {story.question}\nAnswer: {story.answer}" in block
        assert " ".join(story.facts) in block
    examples_block.cache_clear()
    assert examples_block("qa2") == block


def test_fingerprint_follows_toggles_and_wording(monkeypatch):
    base = PromptConfig().fingerprint()
    assert PromptConfig(examples=False).fingerprint() != base
    qa1 = get_task("qa1")
    monkeypatch.setitem(all_tasks(), "qa1", replace(qa1, answer_format="Say the room."))
    changed_answer_format = PromptConfig().fingerprint()
    monkeypatch.setitem(all_tasks(), "qa1", replace(qa1, hint="Mind the moves."))
    changed_hint = PromptConfig().fingerprint()
    assert len({base, changed_answer_format, changed_hint}) == 3
