"""What an ``hf`` model spends on one long prompt before generating, against the code before the memo.

    python benchmarks/bench_prompt_tokenize.py              # a real qa1 sample at 1M GPT-2 tokens
    python benchmarks/bench_prompt_tokenize.py --length 128k

The eval loop counts a prompt's tokens, stores the rendered prompt, then the model encodes it.
Baseline: each of the three renders the chat template again and counting and encoding each
tokenize it (as before ``ChatTokenizer`` remembered its last prompts). Now: ``ChatTokenizer``
as ``HFModel`` uses it. SmolLM2-135M-Instruct's tokenizer (installed by set-up).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", default="1M")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from babilong.generate import generate_samples
    from babilong.models.base import Prompt
    from babilong.models.chat_tokenizer import ChatTokenizer
    from babilong.models.smollm2 import model_folder

    tokenizer = AutoTokenizer.from_pretrained(model_folder(), local_files_only=True)
    sample = generate_samples("qa1", args.length, 1, seed=0, split="test")[0]
    prompt = Prompt(f"{sample.input}\nQuestion: {sample.question}", system="Answer with one word.")

    def render() -> str:
        return tokenizer.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)

    def baseline() -> int:
        counted = len(tokenizer(render(), add_special_tokens=False)["input_ids"])
        render()  # the stored copy
        tokenizer(render(), add_special_tokens=False)  # the model's encoding
        return counted

    def remembered() -> int:
        chat = ChatTokenizer(tokenizer)
        counted = chat.count_tokens(prompt)
        chat.render(prompt)
        chat.encode(prompt)
        return counted

    print(f"qa1 at {args.length}: one prompt counted, stored and encoded")
    for name, step in (("baseline (render 3x, tokenize 2x)", baseline), ("ChatTokenizer (render 1x, tokenize 1x)", remembered)):
        started = time.perf_counter()
        tokens = step()
        print(f"{name:>40}: {time.perf_counter() - started:6.2f} s ({tokens:,} tokens)", flush=True)


if __name__ == "__main__":
    main()
