"""Adapter checkpoints of a retrofitted model (a ThoughtBeaconBertForSequenceClassification, modeling_retrofit.py):
the trained tensors only, the base referenced.

What is trained: LoRA adapters (Hugging Face peft) on the attention and FFN projections, the pooler, the
classifier and every retrofit tensor; the base encoder stays frozen. A checkpoint folder holds config.json,
which names the base and the SHA-256 of its weights, and adapter.safetensors with every tensor outside the frozen
base (`adapter_state`). Loading copies the base weights into a fresh model (`load_base_weights`), then the
adapter's tensors (`load_adapter`), merging each LoRA pair into the projection it adapts. Locating and verifying
the base is not done here: see explainer.loading.retrofit.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import PretrainedConfig, PreTrainedModel

ADAPTER_FILE = "adapter.safetensors"
BASE_PREFIXES = ("bert.embeddings.", "bert.encoder.")  # frozen base tensors, never saved with the adapter
# The linear layers training puts a LoRA pair on (peft matches the whole module name): a checkpoint of rank r > 0
# holds one pair for each, none otherwise
LORA_TARGETS = r".*\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


class AdapterError(ValueError):
    """Base weights or an adapter file do not fit the model: the message names the file and what is wrong."""


def adapter_state(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """Every tensor not in the frozen base: LoRA pairs, pooler, classifier, markers, routers, gates."""
    state: dict[str, torch.Tensor] = {}
    live_lora = False
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            live_lora = True
            state[f"{name}.lora_A"] = module.lora_A["default"].weight.detach()
            state[f"{name}.lora_B"] = module.lora_B["default"].weight.detach()
    if not live_lora:
        state.update(model.lora_state)
    for key, value in model.state_dict().items():
        if key.startswith(BASE_PREFIXES) or ".lora_" in key or ".base_layer." in key:
            continue
        state[key] = value.detach()
    return {k: v.contiguous().cpu() for k, v in state.items()}


def write_adapter(model: PreTrainedModel, folder: Path) -> None:
    """Write `model`'s adapter state to folder/adapter.safetensors."""
    save_file(adapter_state(model), str(folder / ADAPTER_FILE), metadata={"format": "pt"})


def read_adapter(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of folder/adapter.safetensors, by name."""
    adapter: dict[str, torch.Tensor] = {}
    with safe_open(str(folder / ADAPTER_FILE), framework="pt") as handle:
        for key in handle.keys():
            adapter[key] = handle.get_tensor(key)
    return adapter


def load_base_weights(model: PreTrainedModel, weights: Path) -> None:
    """Copy the base encoder (and a classifier head, when the base has one) into `model`; every encoder tensor
    must be present."""
    targets = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():
            name = key if key.startswith(("bert.", "classifier.")) else f"bert.{key}"
            if name in targets:
                loaded[name] = handle.get_tensor(key)
    needed = [k for k in targets if k.startswith(BASE_PREFIXES) and ".lora_" not in k]
    missing = [k for k in needed if k not in loaded]
    if missing:
        raise AdapterError(f"{weights} is not a BERT encoder matching this model: missing {', '.join(missing[:4])}")
    model.load_state_dict(loaded, strict=False)


def lora_scaling(config: PretrainedConfig) -> float:
    return config.lora_alpha / config.lora_rank if config.lora_rank else 0.0


def load_adapter(model: PreTrainedModel, folder: Path) -> None:
    """Load folder/adapter.safetensors into `model` (which holds its base weights already): every non-base tensor
    must be there and nothing else; each LoRA pair is merged into its projection and kept in `model.lora_state`
    so that the model saves the same adapter again."""
    source = folder / ADAPTER_FILE
    adapter = read_adapter(folder)
    lora = {k: v for k, v in adapter.items() if k.endswith((".lora_A", ".lora_B"))}
    rest = {k: v for k, v in adapter.items() if k not in lora}
    expected = {k for k in model.state_dict() if not k.startswith(BASE_PREFIXES)}
    if missing := sorted(expected - rest.keys()):
        raise AdapterError(f"{source} is incomplete: missing {', '.join(missing[:4])}")
    if unexpected := sorted(rest.keys() - expected):
        raise AdapterError(f"{source} has unknown tensors: {', '.join(unexpected[:4])}")
    _check_lora(model, lora, source)
    model.load_state_dict(rest, strict=False)
    merge_lora(model, lora, lora_scaling(model.config), source)
    model.lora_state = lora


def _check_lora(model: PreTrainedModel, lora: dict[str, torch.Tensor], source: Path) -> None:
    """Every LoRA target has its pair (A and B) when config.json gives a rank, and there is none without one: a
    checkpoint missing its pairs once loaded as the bare base projections, with other predictions and no word."""
    rank = int(getattr(model.config, "lora_rank", 0) or 0)
    if not rank:
        if lora:
            raise AdapterError(f"{source} holds LoRA tensors, but its config.json gives no lora_rank")
        return
    modules = {
        name: module for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and re.fullmatch(LORA_TARGETS, name)
    }
    targets = sorted(modules)
    expected = {f"{name}.lora_{part}" for name in targets for part in "AB"}
    if missing := sorted(expected - lora.keys()):
        raise AdapterError(
            f"{source} is incomplete: config.json gives LoRA rank {rank}, and {len(missing)} of its "
            f"{len(expected)} LoRA tensors are missing ({', '.join(missing[:4])})"
        )
    if unexpected := sorted(lora.keys() - expected):
        raise AdapterError(f"{source}: LoRA tensors for no module training adapts: {', '.join(unexpected[:4])}")
    for name in targets:
        a, b = lora[f"{name}.lora_A"], lora[f"{name}.lora_B"]
        module = modules[name]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != rank or b.shape[1] != rank:
            raise AdapterError(
                f"{source}: the LoRA pair of {name} has shapes {list(a.shape)} and {list(b.shape)}; config.json "
                f"says rank {rank}"
            )
        if a.shape[1] != module.in_features or b.shape[0] != module.out_features:  # B @ A must fit the weight
            raise AdapterError(
                f"{source}: the LoRA pair of {name} has shapes {list(a.shape)} and {list(b.shape)}, which do not "
                f"fit its {module.out_features} x {module.in_features} weight"
            )


def merge_lora(
    model: PreTrainedModel, lora: dict[str, torch.Tensor], scaling: float, source: Path
) -> None:
    """W += scaling * (B @ A) for each `name.lora_A` / `name.lora_B` pair, into module `name`'s weight."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key in (k for k in lora if k.endswith(".lora_A")):
            name = key[: -len(".lora_A")]
            if name not in modules or f"{name}.lora_B" not in lora:
                raise AdapterError(f"{source}: LoRA pair for unknown module {name}")
            modules[name].weight += scaling * (lora[f"{name}.lora_B"] @ lora[key])
