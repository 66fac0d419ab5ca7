"""Reasoning models: how requests are written, thinking kept apart from the answer, cut answers."""

import json

import pytest

from babilong.cli import main
from babilong.datasets import write_samples
from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.reasoning import prompt_opens_thinking, reply_status, split_reply
from babilong.report import markdown
from babilong.tables import build_table
from babilong.runs import RESULTS, RunConfig, _parse_line, load_run
from babilong.scorers import judge_answer
from tests.helpers import make_samples, run_store
from tests.reasoning_server import THINKING, ReasoningServer


def records(directory):
    return [json.loads(line) for line in (directory / RESULTS).read_text().splitlines()]


def client(url, **extra):
    return load_model("openai", {"model": "thinker", "base_url": url, "backoff": "0.01", "max_retries": "1", **extra})


def run(model, directory, samples, max_new_tokens=200):
    config = RunConfig("openai", model.settings(), PromptConfig(), max_new_tokens, {"source": "hand-made"})
    return run_store(directory, samples, model, config)


# ---- the split and the status, alone ----

@pytest.mark.parametrize(("output", "opened", "answer", "thinking"), [
    ("<think>\nMary was in the office.\n</think>\n\nkitchen", False, "\n\nkitchen", "\nMary was in the office.\n"),
    ("Mary was in the office.</think> kitchen", False, " kitchen", "Mary was in the office."),  # template opened it
    ("<think>still thinking about the office", False, "", "still thinking about the office"),
    ("still thinking about the office", True, "", "still thinking about the office"),
    ("kitchen", False, "kitchen", None),
])
def test_the_final_answer_is_after_the_thinking(output, opened, answer, thinking):
    reply = split_reply(output, opened=opened)
    assert (reply.answer, reply.thinking) == (answer, thinking)


def test_thinking_sent_apart_and_the_cut_status():
    assert split_reply("kitchen", reasoning="office? no").thinking == "office? no"
    assert reply_status("", "length") == "cut" and reply_status("  ", "max_tokens") == "cut"
    assert reply_status("The most recent location", "length") == "ok"  # an answer begun: scored, as before
    assert reply_status("", "stop") == "ok" and reply_status("", None) == "ok"
    assert prompt_opens_thinking("<|assistant|>\n<think>\n") and not prompt_opens_thinking("<think>\n</think>\n\n")


def test_the_thinking_alone_would_be_scored_wrong():
    """The fake model's thinking names another room first: reading it would fail the tests below."""
    whole = f"{THINKING} kitchen"
    assert not judge_answer(whole, "kitchen", "Where is Mary?", "qa1", "babilong")
    assert not judge_answer(whole, "kitchen", "Where is Mary?", "qa1", "reference")


# ---- openai: the request form is learned, the answer read apart from the thinking ----

def test_a_reasoning_server_teaches_the_request_form_and_the_run_records_it(tmp_path):
    with ReasoningServer("field", refuse=("max_tokens", "temperature")) as server:
        model = client(server.url, reasoning_effort="low")
        summary = run(model, tmp_path, make_samples(count=3))
    assert model.settings() == {"model": "thinker", "mode": "chat", "tokenizer": None, "budget_field": "max_completion_tokens",
                                "temperature": "server default", "reasoning_effort": "low"}
    assert (summary.ok, summary.errors) == (3, 0)
    refused, answered = server.requests[:2], server.requests[3:]
    assert "max_tokens" in refused[0] and "max_completion_tokens" in refused[1] and "temperature" in refused[1]
    assert all(b["max_completion_tokens"] == 200 and "max_tokens" not in b and "temperature" not in b for b in answered)
    assert all(b["reasoning_effort"] == "low" for b in answered) and len(answered) == 3
    manifest, loaded = load_run(tmp_path)
    assert manifest["config"]["model_settings"]["budget_field"] == "max_completion_tokens"
    for record in loaded.records.values():
        assert record["status"] == "ok" and record["finish_reason"] == "stop"
        assert record["output"] == record["answer"] == record["target"]
        assert record["thinking"] == THINKING and record["thinking_chars"] == len(THINKING)
        assert record["scores"] == {"babilong": True, "reference": True}


def test_explicit_request_fields_skip_the_learning_request(tmp_path):
    with ReasoningServer("plain") as server:
        model = client(server.url, budget_field="max_completion_tokens", temperature="default")
        run(model, tmp_path, make_samples(count=1))
    assert len(server.requests) == 1 and "temperature" not in server.requests[0]


def test_a_plain_server_keeps_the_old_request_form_and_identity(tmp_path):
    with ReasoningServer("plain") as server:
        model = client(server.url)
        run(model, tmp_path, make_samples(count=1))
    assert model.settings() == {"model": "thinker", "mode": "chat", "tokenizer": None}
    body = server.requests[-1]
    assert body["max_tokens"] == 200 and body["temperature"] == 0.0
    assert "thinking_chars" not in records(tmp_path)[0]


def test_inline_thinking_is_stored_raw_and_the_answer_after_it_scored(tmp_path):
    with ReasoningServer("inline") as server:
        run(client(server.url), tmp_path, make_samples(count=2))
    for record in records(tmp_path):
        assert record["output"].startswith("<think>") and THINKING in record["output"]
        assert record["answer"] == record["target"] and record["thinking_chars"] == len(THINKING) + 2
        assert record["status"] == "ok" and record["scores"] == {"babilong": True, "reference": True}


@pytest.mark.parametrize(("style", "null_content"), [("field", False), ("field", True), ("inline", False)])
def test_an_answer_cut_by_the_budget_is_cut_not_wrong(tmp_path, style, null_content):
    with ReasoningServer(style, null_content_when_cut=null_content) as server:
        summary = run(client(server.url), tmp_path, make_samples(count=2), max_new_tokens=5)
    assert (summary.cut, summary.ok, summary.errors) == (2, 0, 0)
    for record in records(tmp_path):
        assert record["status"] == "cut" and record["finish_reason"] == "length"
        assert record["scores"] is None and record["answer"] == "" and record["thinking_chars"] > 0
    table = build_table(load_run(tmp_path)[1].records, "babilong", "cut run")
    assert table.cells[("qa1", "0k")].cut == 2
    text = markdown(table)
    assert "| qa1 | cut |" in text and "0 (2 cut)" in text and "cut: --max-new-tokens ran out" in text


def test_cut_samples_are_final_and_read_back(tmp_path):
    samples = make_samples(count=2)
    with ReasoningServer("field") as server:
        run(client(server.url), tmp_path, samples, max_new_tokens=5)
        again = run(client(server.url), tmp_path, samples, max_new_tokens=5)
    assert again.skipped == 2  # cut is final: the same budget would cut again
    line = (tmp_path / RESULTS).read_bytes().splitlines()[0]
    assert _parse_line(line) == (json.loads(line), None)
    assert main(["rescore", str(tmp_path)]) == 0
    assert [r["status"] for r in records(tmp_path)] == ["cut", "cut"]


def test_chat_template_options_and_extra_fields_reach_the_server(tmp_path):
    with ReasoningServer("field") as server:
        model = client(server.url, **{"chat_template.enable_thinking": "false", "body.top_k": "1"})
        run(model, tmp_path, make_samples(count=1), max_new_tokens=5)
    body = server.requests[-1]
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["top_k"] == 1
    assert model.settings()["chat_template_kwargs"] == {"enable_thinking": False}
    record = records(tmp_path)[0]
    assert record["status"] == "ok" and "thinking_chars" not in record  # no thinking: 5 tokens were enough


def test_a_refusal_that_is_not_ours_to_learn_is_one_line(tmp_path):
    with ReasoningServer("field", refuse=("max_tokens",)) as server, \
            pytest.raises(BabilongError, match="refuses a small request .*max_tokens"):
        client(server.url, budget_field="max_tokens")
    with ReasoningServer("field") as server, pytest.raises(BabilongError, match="is set by babilong itself"):
        client(server.url, **{"body.max_tokens": "3"})


def test_eval_reports_cut_samples_and_points_to_the_budget(tmp_path, capsys):
    write_samples(make_samples(count=2), tmp_path / "data" / "0k" / "qa1.jsonl")
    with ReasoningServer("inline", refuse=("max_tokens",)) as server:
        code = main(["eval", "--model", "openai", "--model-args", f"model=thinker,base_url={server.url}",
                     "--data", str(tmp_path / "data"), "--tasks", "qa1", "--lengths", "0k", "--samples", "2",
                     "--max-new-tokens", "4", "--output", str(tmp_path / "run"), "--no-progress",
                     "--export", str(tmp_path / "export")])
    captured = capsys.readouterr()
    assert code == 0 and "2 cut" in captured.err and "larger --max-new-tokens" in captured.err
    assert "| qa1 | cut |" in captured.out
    exported = tmp_path / "export" / "local" / "thinker"
    assert "[cut]" in next(exported.glob("*.csv")).read_text()
    from babilong.published import find_runs, load_records

    assert {r["status"] for r in load_records(find_runs(exported)[0]).values()} == {"cut"}  # read back as cut


# ---- hf: a chat template with thinking, on a tiny model built here ----

THINKING_TEMPLATE = (
    "{% for message in messages %}<|{{ message.role }}|> {{ message.content }} {% endfor %}<|assistant|> "
    "{% if enable_thinking is defined and not enable_thinking %}<think> </think> {% else %}<think> {% endif %}")
# Each word's successor: the model "thinks" a wrong room, closes its thinking and answers garden.
CHAIN = {"<think>": "not", "not": "kitchen", "kitchen": "</think>", "</think>": "garden", "garden": "</s>"}


@pytest.fixture(scope="module")
def thinking_model(tmp_path_factory):
    """A 1-layer Llama whose next token is a fixed successor of the last one, with a thinking template."""
    pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]", "</s>", "<think>", "</think>", "not", "kitchen", "garden", "<|user|>", "<|assistant|>",
             "<|system|>"]
    vocab = {word: i for i, word in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece()  # words joined by spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>")
    tokenizer.add_tokens(["<think>", "</think>"])  # as in Qwen3: added, not special, so decoding keeps them
    tokenizer.chat_template = THINKING_TEMPLATE
    size = len(words)
    width = size + size % 2  # rotary embeddings need an even head size
    config = LlamaConfig(vocab_size=size, hidden_size=width, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=4096,
                         eos_token_id=vocab["</s>"], pad_token_id=vocab["[PAD]"], bos_token_id=None,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # the layer adds nothing; the head maps each word to its successor
        model.model.embed_tokens.weight.copy_(torch.eye(size, width))
        model.model.layers[0].self_attn.o_proj.weight.zero_()
        model.model.layers[0].mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for word, successor in CHAIN.items():
            model.lm_head.weight[vocab[successor], vocab[word]] = 1.0
        model.lm_head.weight[vocab["</s>"], vocab["[UNK]"]] = 1.0
    folder = tmp_path_factory.mktemp("thinker")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


CHAT_ONLY = "instruction_no_examples_no_post_prompt_no_chat_template_yes_system_prompt_no"


def hf_eval(tmp_path, folder, name, extra_args="", max_new_tokens=8):
    data = tmp_path / "data"
    if not data.exists():
        write_samples(make_samples(count=2), data / "0k" / "qa1.jsonl")  # targets kitchen, garden
    run = tmp_path / name
    code = main(["eval", "--model", "hf", "--model-args", f"pretrained={folder},device=cpu{extra_args}",
                 "--data", str(data), "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--prompt", CHAT_ONLY,
                 "--max-new-tokens", str(max_new_tokens), "--output", str(run), "--no-progress"])
    assert code == 0
    return {r["index"]: r for r in records(run)}, load_run(run)[0]


def test_hf_thinking_through_the_chat_template(thinking_model, tmp_path):
    thought, manifest = hf_eval(tmp_path, thinking_model, "on")
    for record in thought.values():
        assert record["prompt"].endswith("<|assistant|> <think> ") and record["prompt_opens_thinking"]
        assert record["output"] == "not kitchen </think> garden" and record["finish_reason"] == "stop"
        assert record["answer"] == "garden" and record["thinking_chars"] == len("not kitchen ")
    assert [thought[i]["scores"]["babilong"] for i in (0, 1)] == [False, True]  # targets kitchen, garden
    assert "chat_template_kwargs" not in manifest["config"]["model_settings"]


def test_hf_chat_template_option_turns_thinking_off(thinking_model, tmp_path):
    plain, manifest = hf_eval(tmp_path, thinking_model, "off", ",chat_template.enable_thinking=false")
    assert manifest["config"]["model_settings"]["chat_template_kwargs"] == {"enable_thinking": False}
    for record in plain.values():
        assert record["prompt"].endswith("<think> </think> ") and "prompt_opens_thinking" not in record
        assert record["output"] == "garden" and record["answer"] == "garden" and record["status"] == "ok"


def test_hf_thinking_cut_by_the_budget(thinking_model, tmp_path):
    cut, _ = hf_eval(tmp_path, thinking_model, "cut", max_new_tokens=2)
    for record in cut.values():
        assert record["output"] == "not kitchen" and record["finish_reason"] == "length"
        assert record["status"] == "cut" and record["scores"] is None and record["thinking_chars"] == len("not kitchen")
