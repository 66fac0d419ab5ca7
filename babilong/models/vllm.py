"""``vllm``: vLLM's offline engine, for GPUs. Imported only when chosen."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from babilong.errors import BabilongError
from babilong.models import float_arg, int_arg, prefixed_args
from babilong.models.base import Generation, Prompt, batches, timed_share
from babilong.models.chat_tokenizer import ChatTokenizer

ARGS = {
    "pretrained": "hub id or local folder of the model (required)",
    "dtype": "auto | float16 | bfloat16 | float32 (default auto)",
    "tensor_parallel_size": "GPUs to shard over (default 1)",
    "gpu_memory_utilization": "fraction of GPU memory vLLM may take (default 0.9)",
    "max_model_len": "context window to allocate (default: the model's)",
    "group_size": "prompts handed to the engine at a time, which batches them itself (default 256)",
    "chat_template.*": "chat_template.KEY=VALUE: an option of the model's chat template, e.g. enable_thinking=false",
}
DTYPES = ("auto", "float16", "bfloat16", "float32")


class VLLMModel:
    """A vLLM ``LLM`` engine; all prompts go to it at once and it batches them itself."""

    name = "vllm"

    def __init__(self, args: dict[str, str]) -> None:
        pretrained = args.get("pretrained")
        if not pretrained:
            raise BabilongError("--model vllm needs --model-args pretrained=HUB_ID_OR_FOLDER")
        dtype = args.get("dtype", "auto")
        if dtype not in DTYPES:
            raise BabilongError(f"--model-args dtype={dtype!r}: use one of {', '.join(DTYPES)}")
        memory_share = float_arg(args, "gpu_memory_utilization", 0.9)
        if not 0 < memory_share <= 1:
            raise BabilongError(f"--model-args gpu_memory_utilization={memory_share}: give a fraction above 0 and at most 1")
        gpus, window = int_arg(args, "tensor_parallel_size", 1), int_arg(args, "max_model_len", None)
        self.group_size = int_arg(args, "group_size", 256)
        try:
            from vllm import LLM
        except ImportError:
            raise BabilongError("--model vllm needs vLLM: 'pip install vllm' on a machine with a GPU, or use --model hf") from None
        self._settings = {"pretrained": pretrained, "dtype": dtype}
        self.template_options = prefixed_args(args, "chat_template")
        if self.template_options:  # only when given: older runs keep their hash
            self._settings["chat_template_kwargs"] = self.template_options
        self.engine = LLM(model=pretrained, dtype=dtype, tensor_parallel_size=gpus, gpu_memory_utilization=memory_share,
                          max_model_len=window)
        self.chat = ChatTokenizer(self.engine.get_tokenizer(), self.template_options)
        self.context_window = self.engine.llm_engine.model_config.max_model_len

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def render(self, prompt: Prompt) -> str:
        return self.chat.render(prompt)

    def count_tokens(self, prompt: Prompt) -> int:
        return self.chat.count_tokens(prompt)

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        from vllm import SamplingParams

        sampling = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        for start, group in batches(prompts, self.group_size):
            began = time.perf_counter()
            # Our token ids, not our text: vLLM would tokenize the text again with its own
            # special-token default (a second BOS after a chat template's), and what was counted
            # against the context window would not be exactly what the model reads.
            outputs = self.engine.generate([{"prompt_token_ids": self.chat.encode(p)} for p in group], sampling)
            latency = timed_share(time.perf_counter() - began, len(group))
            for offset, result in enumerate(outputs):
                answer = result.outputs[0]
                yield start + offset, Generation(answer.text, latency, len(result.prompt_token_ids), len(answer.token_ids),
                                                 finish_reason=answer.finish_reason)

    def close(self) -> None:
        self.engine = None


def load(args: dict[str, str]) -> VLLMModel:
    return VLLMModel(args)
