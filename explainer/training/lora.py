"""LoRA for fine-tuning a retrofitted model (explainer.models.modeling_retrofit): adapters on the base encoder's
attention and FFN projections, the base itself frozen. Training only: a saved checkpoint holds the LoRA pairs,
and loading merges them into the projections without peft (explainer.models.adapter_io)."""

from __future__ import annotations

from explainer.models.adapter_io import BASE_PREFIXES, LORA_TARGETS
from explainer.models.modeling_retrofit import ThoughtBeaconBertForSequenceClassification


def add_lora(model: ThoughtBeaconBertForSequenceClassification, rank: int, alpha: float, dropout: float = 0.05):
    """Inject LoRA adapters (peft) into the attention and FFN projections and freeze the base encoder.
    Returns the trainable parameters: LoRA, pooler, classifier and the retrofit tensors."""
    from peft import LoraConfig, inject_adapter_in_model

    model.config.lora_rank, model.config.lora_alpha = rank, alpha
    if rank > 0:
        lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
        inject_adapter_in_model(lora, model)
    trainable = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad = ".lora_" in name or not name.startswith(BASE_PREFIXES)
        if parameter.requires_grad:
            trainable.append(parameter)
    return trainable
