"""Load a sequence classifier (ours or any Hugging Face one) into a ModelBundle ready for capture.

Policy: eager attention (SDPA returns no attention weights), safetensors preferred, pickle weights
refused unless the caller opts in, never `trust_remote_code`, CUDA when present.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import pickle
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from huggingface_hub.errors import StrictDataclassError
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

import explainer.models  # noqa: F401  (registers the ThoughtBeacon Auto classes)
from explainer.data.disk_cache import folder_stamp
from explainer.families import family_of, is_known, position_offset, sizes
from explainer.loading import shipped
from explainer.loading.backbone import BackboneError
from explainer.loading.layer_shapes import layer_shape_refusal
from explainer.loading.memory import keep_freed_memory_mapped
from explainer.loading.retrofit import load_retrofit
from explainer.loading.saved_tokenizer import as_saved
from explainer.loading.shards import index_problem
from explainer.models import is_thought_beacon
from explainer.models.adapter_io import ADAPTER_FILE, AdapterError
from explainer.models.configuration_retrofit import ThoughtBeaconBertConfig

logger = logging.getLogger(__name__)

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


# What reading a config.json of valid JSON but the wrong shape raises: not an object (null, 123), a field of the
# wrong type (a list model_type, a text num_labels), or nesting deeper than the parser recurses.
CONFIG_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, StrictDataclassError, RecursionError)


class ModelLoadError(ValueError):
    """A checkpoint could not be loaded; the message names the problem and what to do."""


def _invalid_config(source: str | Path, error: BaseException) -> ModelLoadError:
    return ModelLoadError(f"The config.json of '{source}' is not a valid model config: {_first_line(error)}")


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A loaded model with everything capture needs. Shared across threads: take `lock` around any use
    of `model` (hooks, gradients, overrides), as `trace()` does."""

    name: str  # what the user picked: a shipped name, a folder or a hub id
    model: PreTrainedModel = field(repr=False)  # its repr is the whole module tree: the name and type say enough
    tokenizer: PreTrainedTokenizerFast = field(repr=False)
    label_names: tuple[str, ...]
    device: torch.device
    max_length: int  # most tokens one input may have, special tokens included
    untrained: bool = False  # a placeholder with random weights: its predictions mean nothing
    # its folder's files when loaded (disk_cache.folder_stamp); None: no folder
    folder_stamp: str | None = field(default=None, repr=False)
    folder: Path | None = None  # the folder it was loaded from (None: a hub id): what its name named when loaded
    pad_assigned: bool = False  # its config named no pad id: the tokenizer's pad (often end-of-text) was given it
    # its tokenizer keeps a long text's end (truncation_side "left"); here every text is cut on the right
    cuts_left_elsewhere: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def architecture(self) -> str:
        return self.model.config.model_type

    @property
    def device_label(self) -> str:
        if self.device.type == "cuda":
            return f"GPU: {torch.cuda.get_device_name(self.device)}"
        return "CPU"

    def changed_on_disk(self) -> bool:
        """Whether the files of the folder it was loaded from differ now from when it was (gone or unreadable
        too); False for a model of no folder stamp (a hub id)."""
        if self.folder_stamp is None:
            return False
        folder = self.folder or shipped.resolve(self.name)
        try:
            return folder is None or folder_stamp(folder) != self.folder_stamp
        except OSError:  # removed while being listed
            return True


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def usable_device(device: str | torch.device | None) -> torch.device:
    """`device` as a torch.device this machine can compute on (None: default_device()), or ModelLoadError naming
    it: torch said "Torch not compiled with CUDA enabled" in an AssertionError after the weights were read, an
    unknown name listed every device type, and "meta" made a model that holds no numbers."""
    if device is None:
        return default_device()
    target, why = checked_device(device)
    if target is None:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        offered = "'cpu'" + (f", 'cuda' or 'cuda:0' to 'cuda:{gpus - 1}'" if gpus else " (this torch sees no GPU)")
        raise ModelLoadError(f"Device {str(device)!r} is not one this machine can use: use {offered} ({why})")
    return target


def checked_device(device: str | torch.device) -> tuple[torch.device | None, str]:
    """(the device, "") when this machine can compute on `device`, else (None, the first line of why not)."""
    try:
        target = torch.device(device)
        if target.type == "cpu":  # "cpu:3" names the one CPU device; tensors made there report plain "cpu"
            target = torch.device("cpu")
        torch.ones(1, device=target).cpu().item()  # "meta" makes tensors that hold no numbers: .item() refuses
    except Exception as error:  # AssertionError (no CUDA), RuntimeError (mps, an unknown name), hpu: no module
        said = (str(error).strip().splitlines() or [type(error).__name__])[0]  # mps: a 55-line dispatcher table
        if said.startswith("Expected one of"):  # torch's list of 20 device types, most of them no choice here
            said = "no device type of that name: use cpu, cuda, cuda:N or mps"
        return None, said[:200]
    return target, ""


def load_model(
    name_or_path: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    allow_pickle: bool = False,
    shared_weights: bool = False,
) -> ModelBundle:
    """Load a shipped model by name, a local Hugging Face folder, or a hub id (when online).

    `None` loads the app's default model. Raises ModelLoadError with a message naming the problem.
    `shared_weights`: on the CPU, leave the weights mapped from the file (every process of a node loading it shares
    one copy: the Ray engine's workers, which check the model's fingerprint as they load); by default the model
    owns them (see _own_weights).
    """
    keep_freed_memory_mapped()  # a process that loads models traces them: see explainer/loading/memory.py
    if name_or_path is not None and not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"load_model takes a model name or folder (str or Path), not {type(name_or_path).__name__}")
    name = str(name_or_path) if name_or_path is not None else shipped.default_model_name()
    if not name.strip():  # "" read the current folder ("." has no config.json)
        raise ModelLoadError("No model given: name a shipped model, a local model folder or a hub id (None: the "
                             "default)")
    folder = shipped.resolve(name)
    target = usable_device(device)  # before the weights are read: a bad device fails at once
    stamp = None
    if folder is not None:
        stamp = folder_stamp(folder)  # before the files are read
        model, tokenizer = _load_folder(folder, allow_pickle)
    elif looks_like_path(name):
        if Path(name).expanduser().exists():  # a file, or a device such as /dev/null: there, but no folder
            raise ModelLoadError(f"{name} is a file, not a model folder: give the folder that holds config.json")
        raise ModelLoadError(f"Model folder not found: {name}")
    else:
        model, tokenizer = _load_hub(name, allow_pickle)

    _require_classifier_head(model, name)
    _require_tokenizer_fits(model, tokenizer, name)
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers: pad with end-of-text so batches work
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token or _config_pad_token(model, tokenizer)
    if tokenizer.pad_token is None:  # every trace and batch pads; its readout finds the last token by the pad id
        raise ModelLoadError(f"{name}'s tokenizer names no padding, end-of-text or unknown token, nor its config a "
                             "special token as pad_token_id, so its texts cannot be padded into batches: add a "
                             "pad_token to its tokenizer_config.json")
    pad_assigned = model.config.pad_token_id is None
    if pad_assigned:  # transformers' decoder classifiers cannot batch without one
        model.config.pad_token_id = tokenizer.pad_token_id
    _pad_as_the_classifier_skips(model, tokenizer)
    # Batches pad on the right, whatever the checkpoint's tokenizer says: transformers numbers positions by column,
    # not by the mask, so a left-padded row of a model with absolute positions (GPT-2, GPT-Neo) would be read at
    # shifted positions; every classifier of the family table finds its readout on either side (the first token,
    # or the last one that is not padding), and a decoder's real tokens never see the padding after them. A family
    # the table lacks is checked (_check_batching), and padded on the left where only that serves (XLNet).
    own_side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    # A long text keeps its beginning, whatever the checkpoint's tokenizer says: every count, search span and
    # message ("only the beginning was analysed") reads a text from its start. Said where a text is cut.
    cuts_left_elsewhere = tokenizer.truncation_side == "left"
    tokenizer.truncation_side = "right"
    model.to(target).eval()
    if target.type == "cpu" and not shared_weights:
        _own_weights(model)
    labels = tuple(str(model.config.id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels))
    bundle = ModelBundle(
        name=name,
        model=model,
        tokenizer=tokenizer,
        label_names=labels,
        device=target,
        max_length=readable_length(model, tokenizer),
        untrained=bool(getattr(model.config, "explainer_untrained", False)),
        folder_stamp=stamp,
        folder=folder,
        pad_assigned=pad_assigned,
        cuts_left_elsewhere=cuts_left_elsewhere,
    )
    _check_attention_is_returned(bundle)
    _check_batching(bundle, own_side)
    return bundle


def _check_batching(bundle: ModelBundle, own_side: str) -> None:
    """For a family the table lacks, prove that batches give each text's own prediction: such a model may read
    its prediction off a fixed column (XLNet: the last), which right padding fills with padding (a batch gave
    [0.18, 0.66, 0.16] where the text alone gives [0.47, 0.24, 0.29]). Right padding is tried first, as every
    family the table knows is padded, then the left (XLNet's tokenizer's own side); a model neither side serves is
    refused (every data-set view batches). Inputs as evaluation/predict.py gives them: ids and mask only."""
    if is_known(bundle.model.config.model_type):
        return
    texts = ["fine", "a longer probe text, so that the first one is padded in a batch of the two"]
    tokenizer, rows = bundle.tokenizer, embedding_rows(bundle.model)

    def probabilities(batch: list[str]) -> torch.Tensor:  # [len(batch), labels]
        encoded = tokenizer(batch, padding=True, truncation=True, max_length=bundle.max_length, return_tensors="pt")
        ids = encoded["input_ids"] if rows is None else encoded["input_ids"].clamp(max=rows - 1)  # words it may
        with torch.inference_mode():  # not embed: what a text holds is checked where it is read
            logits = bundle.model(input_ids=ids.to(bundle.device),
                                  attention_mask=encoded["attention_mask"].to(bundle.device)).logits
        return logits.float().softmax(-1).cpu()

    try:
        alone = torch.cat([probabilities([text]) for text in texts])
        for side in dict.fromkeys(("right", own_side, "left")):  # right, as for every family the table knows
            tokenizer.padding_side = side
            if torch.allclose(probabilities(texts), alone, atol=1e-3):
                return
    except Exception as error:  # a model that fails on a padded batch: said as a load error, as other checks do
        tokenizer.padding_side = "right"
        raise ModelLoadError(f"'{bundle.name}' fails on a padded batch of two texts: "
                             f"{type(error).__name__}: {_first_line(error)}") from None
    tokenizer.padding_side = "right"
    raise ModelLoadError(
        f"'{bundle.name}' ({bundle.architecture}) predicts otherwise for a text in a batch than alone, with padding "
        "on either side, so its results over a data set would be wrong"
    )


def looks_like_path(name: str) -> bool:
    """Whether a model name is a local path rather than a hub id (the CLI's demo refusal tells them apart too)."""
    # Hub ids are "name" or "org/name" and may contain dots ("org/model-v1.5"); anything else is a path.
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _load_folder(folder: Path, allow_pickle: bool) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    try:
        return _read_folder(folder, allow_pickle)
    except PermissionError as error:  # an unreadable folder or file: said as such, not as a missing file
        what = Path(error.filename).name if error.filename else folder.name
        raise ModelLoadError(f"{folder}: {what} cannot be read (permission denied)") from None


def _read_folder(folder: Path, allow_pickle: bool) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json: it is not a Hugging Face model folder")
    if (folder / ADAPTER_FILE).is_file():
        return _load_adapter(folder), _load_tokenizer(str(folder))
    has_safe = any((folder / f).is_file() for f in SAFE_WEIGHTS)
    has_pickle = any((folder / f).is_file() for f in PICKLE_WEIGHTS)
    if not has_safe and not has_pickle:
        raise ModelLoadError(f"{folder} has no weights: expected model.safetensors (or pytorch_model.bin)")
    if not has_safe and not allow_pickle:
        raise ModelLoadError(_pickle_refusal(str(folder)))
    # the file transformers will read: the single file, else the index (whose shard names it follows blindly)
    single, index = (SAFE_WEIGHTS if has_safe else PICKLE_WEIGHTS)
    if not (folder / single).is_file() and (problem := index_problem(folder, index)):
        raise ModelLoadError(problem)
    for name in (single,) if (folder / single).is_file() else ():
        if not os.access(folder / name, os.R_OK):  # transformers calls an unreadable file missing
            raise ModelLoadError(f"{folder}: {name} cannot be read (permission denied)")
    config = _load_config(str(folder))
    model = _from_pretrained(str(folder), config, use_safetensors=has_safe)
    return model, _load_tokenizer(str(folder))


def _load_adapter(folder: Path) -> PreTrainedModel:
    """Markers and beacons retrofitted onto a pretrained base: the folder holds only the trained tensors, and
    the base is located offline and verified against the SHA-256 its config records (explainer/loading/backbone.py).
    A missing base, wrong base weights or an adapter file that does not fit: its own message, as it is."""
    try:
        _check_sizes(str(folder), ThoughtBeaconBertConfig.from_pretrained(folder))  # as _load_config does
        return load_retrofit(folder)
    except ModelLoadError:
        raise
    except (BackboneError, AdapterError) as error:
        raise ModelLoadError(str(error)) from error
    except (OSError, ValueError, RuntimeError) as error:
        said = " ".join(str(error).split())  # torch's state_dict report runs over lines and tabs
        raise ModelLoadError(f"Adapter checkpoint {folder} is damaged or does not fit its base: {said}") from error
    except CONFIG_SHAPE_ERRORS as error:
        raise _invalid_config(folder, error) from error
    except Exception as error:  # safetensors raises its own error type on a damaged file
        if type(error).__name__ == "SafetensorError":
            raise ModelLoadError(f"Adapter weights in {folder} are corrupt: {error}") from error
        raise


def _load_hub(hub_id: str, allow_pickle: bool) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    # Offline, huggingface_hub retries for ~30 s before failing: probe once, then use only the local cache.
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "") or not _hub_reachable()
    config = _load_config(hub_id, local_files_only=offline)
    # use_safetensors=None lets transformers fall back to pickle weights; only when the caller opted in.
    safetensors_only = None if allow_pickle else True
    try:
        model = _from_pretrained(hub_id, config, use_safetensors=safetensors_only, local_files_only=offline)
    except ModelLoadError:
        if not allow_pickle and _hub_pickle_only(hub_id, offline):  # say why, as for a folder, not "corrupt"
            raise ModelLoadError(_pickle_refusal(f"'{hub_id}'")) from None
        raise
    return model, _load_tokenizer(hub_id, local_files_only=offline)


def _hub_pickle_only(hub_id: str, offline: bool) -> bool:
    """Whether the hub id's weights are pickle files only: in the local cache offline, on the hub otherwise."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    try:
        if offline:
            def cached(name: str) -> bool:
                return isinstance(try_to_load_from_cache(hub_id, name), str)
        else:
            files = set(HfApi().list_repo_files(hub_id))

            def cached(name: str) -> bool:
                return name in files
        return not any(cached(f) for f in SAFE_WEIGHTS) and any(cached(f) for f in PICKLE_WEIGHTS)
    except Exception:  # the question is for a better message only: no answer leaves the first one
        return False


def _pickle_refusal(what: str) -> str:
    return (
        f"{what} has only pickle weights (pytorch_model.bin). Unpickling can run arbitrary code, so it is "
        "refused. Convert it to safetensors (load it once where you trust it and save_pretrained it again), or, "
        "if you trust it, opt in: --allow-pickle on the command line, allow_pickle=True "
        "in Python. The app never unpickles."
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_config(source: str, local_files_only: bool = False):
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=local_files_only)
    except OSError as error:
        config_file = Path(source).expanduser() / "config.json"
        if config_file.is_file():  # the folder is there: its config.json is unreadable or not valid JSON
            raise ModelLoadError(f"The config of '{source}' cannot be read: {error}") from error
        where = "the hub is unreachable from this machine and it is not in the local Hugging Face cache" if (
            local_files_only
        ) else "not found on the Hugging Face hub"
        names = ", ".join(m.name for m in shipped.SHIPPED)  # a mistyped one is a dead end without them
        raise ModelLoadError(
            f"Could not find model '{source}': not a shipped model ({names}), not a local folder, and {where}."
        ) from error
    except ValueError as error:  # unknown model_type, or a config that asks for remote code
        if "trust_remote_code" in str(error):  # never offered: code that comes with a model is not run here
            raise ModelLoadError(
                f"'{source}' needs code of its own (auto_map), which this app never runs: only architectures "
                "built into transformers load"
            ) from error
        raise ModelLoadError(f"Unsupported model config in '{source}': {_first_line(error)}") from error
    except CONFIG_SHAPE_ERRORS as error:
        raise _invalid_config(source, error) from error
    architectures = getattr(config, "architectures", None) or []
    if isinstance(architectures, str):  # one name written without its list
        architectures = [architectures]
    if not isinstance(architectures, list | tuple) or not all(isinstance(a, str) for a in architectures):
        raise ModelLoadError(f"The config.json of '{source}' is not a valid model config: architectures must be a "
                             f"list of class names, not {architectures!r}"[:300])
    _check_sizes(source, config)
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"'{source}' is a {', '.join(architectures)} checkpoint, not a sequence classifier: "
            "its classification head would be random. Load a *ForSequenceClassification checkpoint."
        )
    return config


# Counts a model is built from: 0 or -1 builds a model with no layers (or no outputs), which then fails far from the
# cause ("does not return attention weights"); named here instead.
COUNT_FIELDS = ("num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size", "num_labels")
# Far past any real model (Llama 3 405B: 126 layers, 128 heads, width 16,384): a 63 KB folder whose config asked for
# 10,000 layers was built in full (92 s, 2.5 GB) before its weights were found not to fit
MOST = {"num_hidden_layers": 1024, "num_attention_heads": 4096, "num_key_value_heads": 4096, "hidden_size": 131_072,
        "num_labels": 1_000_000}


def _check_sizes(source: str, config) -> None:
    for name in COUNT_FIELDS:
        value = getattr(config, name, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ModelLoadError(f"The config.json of '{source}' is not a valid model config: {name} must be a "
                                 f"whole number of at least 1, not {value!r}"[:300])
        if value is not None and value > MOST[name]:
            raise ModelLoadError(f"The config.json of '{source}' asks for {name} {value:,}, more than any model this "
                                 f"app loads ({MOST[name]:,} at most)"[:300])
    markers = getattr(config, "num_thought_markers", None) if is_thought_beacon(config) else None
    if markers is not None and (isinstance(markers, bool) or not isinstance(markers, int) or markers < 0):
        # -1 loaded: the FLOPs counted markers that were not there and the tau sweep failed on a negative size
        raise ModelLoadError(f"The config.json of '{source}' is not a valid model config: num_thought_markers must "
                             f"be a whole number of at least 0, not {markers!r}"[:300])
    tau = getattr(config, "beacon_threshold", None) if is_thought_beacon(config) else None
    if tau is not None and (isinstance(tau, bool) or not isinstance(tau, int | float) or not 0 <= tau <= 1):
        # a gate is a sigmoid: 1.5 skipped as 1.0 does, while the Beacons page's slider and the tau sweep, which
        # move from 0 to 1, failed on it
        raise ModelLoadError(f"The config.json of '{source}' is not a valid model config: beacon_threshold (tau) "
                             f"must be a number from 0 to 1, not {tau!r}"[:300])


def _from_pretrained(
    source: str, config, use_safetensors: bool | None, local_files_only: bool = False
) -> PreTrainedModel:
    try:
        model, info = _auto_load(source, config, use_safetensors, local_files_only)
    except ValueError as error:
        if "Unrecognized configuration class" in str(error):
            raise ModelLoadError(f"'{source}' ({config.model_type}) has no sequence-classification model") from error
        raise ModelLoadError(f"Could not load weights of '{source}': {error}") from error
    except (OSError, RuntimeError) as error:
        if "ignore_mismatched_sizes" in str(error):  # the details are in a report transformers logs, not in it
            raise ModelLoadError(_mismatch(source, config, use_safetensors, local_files_only)) from error
        raise ModelLoadError(f"Weights of '{source}' are missing or corrupt: {_first_line(error)}") from error
    except (TypeError, AttributeError, KeyError, IndexError, ZeroDivisionError) as error:  # a config field no model
        # can be built from (a count of 0 that COUNT_FIELDS does not name divides by it)
        raise ModelLoadError(
            f"'{source}': no model can be built from its config.json and weights ({config.model_type}): "
            f"{_first_line(error)}"
        ) from error
    except pickle.UnpicklingError as error:  # --allow-pickle, and torch's weights_only refused what is inside
        raise ModelLoadError(
            f"The pickle weights of '{source}' hold more than tensors, so they were not loaded (only plain "
            "tensors are read from a pickle file, whatever the flag)"
        ) from error
    except Exception as error:  # safetensors raises its own error type on a damaged file
        if type(error).__name__ == "SafetensorError":
            raise ModelLoadError(f"Weights of '{source}' are corrupt: {error}") from error
        raise
    missing_all = sorted(info.get("missing_keys", []))
    missing = [key for key in missing_all if "classifier" in key or "score" in key]
    if len(missing_all) > 2 * len(missing) and len(missing_all) * 2 > len(model.state_dict()):
        # most of the body missing: weights of another architecture under this config (not a missing head)
        raise ModelLoadError(
            f"Weights of '{source}' do not match its config.json ({config.model_type}): {len(missing_all)} of the "
            f"model's {len(model.state_dict())} tensors are missing, e.g. {', '.join(missing_all[:3])}. The weights "
            "were saved from another architecture"
        )
    if missing:
        raise ModelLoadError(
            f"'{source}' has no trained classification head (missing {', '.join(sorted(missing)[:4])}): "
            "it is not a fine-tuned sequence classifier."
        )
    if missing_all:
        raise ModelLoadError(f"Weights of '{source}' are incomplete: missing {', '.join(sorted(missing_all)[:6])}")
    if extra := _layers_beyond(info.get("unexpected_keys", ()), sizes(config).layers):
        # transformers drops them in silence: a config.json of 1 layer over 2 layers' weights ran half a model
        layers = sizes(config).layers
        raise ModelLoadError(
            f"Weights of '{source}' hold at least {extra + 1} layers, its config.json {layers}: the config does not "
            "belong to them, and the model would run without the rest"
        )
    unexpected = sorted(map(str, info.get("unexpected_keys", ())))
    if unexpected and is_thought_beacon(config):  # our own architecture takes every tensor it saved
        # num_thought_markers 0 or use_beacons false over trained weights: transformers dropped the markers' or
        # gates' tensors in silence, and the model ran (76.8% where it says 96.2%) as if built without them
        raise ModelLoadError(
            f"Weights of '{source}' hold tensors its config.json builds no place for ({', '.join(unexpected[:3])}"
            f"{', ...' if len(unexpected) > 3 else ''}): the config does not belong to them (markers or beacons "
            "switched off by hand?), and the model would run without them"
        )
    return model


# A transformer block's index in a weight name: "bert.encoder.layer.3.", "model.layers.3.", "transformer.h.3."
_BLOCK_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")  # at the start too: ours


def _layers_beyond(unexpected: Any, layers: int) -> int | None:
    """The highest block index among weights the model did not take, when it is past the config's layers."""
    found = [int(m.group(1)) for key in unexpected if (m := _BLOCK_INDEX.search(str(key)))]
    return max(found) if found and max(found) >= layers else None


def _auto_load(source: str, config, use_safetensors: bool | None, local_files_only: bool, **extra: Any):
    """(model, loading info): eager attention (so weights come back), float32, never the checkpoint's own code."""
    return AutoModelForSequenceClassification.from_pretrained(
        source,
        config=config,
        attn_implementation="eager",
        use_safetensors=use_safetensors,
        trust_remote_code=False,
        output_loading_info=True,
        dtype=torch.float32,
        local_files_only=local_files_only,
        **extra,
    )


def _mismatch(source: str, config, use_safetensors: bool | None, local_files_only: bool) -> str:
    """Which weights do not have the shapes config.json gives them, read by loading once more without the check
    (on the way to an error only)."""
    try:
        _, info = _auto_load(source, config, use_safetensors, local_files_only, ignore_mismatched_sizes=True)
        found = [f"{key} is {list(saved)} in the file, {list(wanted)} by its config"
                 for key, saved, wanted in sorted(info.get("mismatched_keys", ()), key=lambda k: k[0])[:3]]
    except Exception:  # the first error stands
        found = []
    detail = "; ".join(found) if found else "their shapes differ from what config.json gives"
    return f"Weights of '{source}' do not fit its config.json: {detail}"


def _load_tokenizer(source: str, local_files_only: bool = False) -> PreTrainedTokenizerFast:
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, use_fast=True, trust_remote_code=False, local_files_only=local_files_only
        )
    except (OSError, ValueError, TypeError, AttributeError, RecursionError) as error:  # also JSON of the wrong shape
        folder = Path(source)
        if folder.is_dir() and not _has_tokenizer_files(folder):
            raise ModelLoadError(
                f"'{source}' has no tokenizer files (such as tokenizer.json or vocab.txt): save the tokenizer beside "
                "the model (tokenizer.save_pretrained(folder))."
            ) from error
        first = " ".join(str(error).split("\n")[0].split())  # transformers' messages run to several lines
        raise ModelLoadError(f"'{source}' has no usable tokenizer: {first}") from error
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"The tokenizer of '{source}' is not a fast tokenizer: character offsets need one")
    tokenizer = as_saved(tokenizer, source, local_files_only)  # the ids the model was trained on, as saved
    # With no tokenizer files, transformers builds the config's tokenizer class with only its special tokens,
    # which turns every word into [UNK]: refuse it rather than explain a model that reads nothing.
    if not set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens):
        folder = Path(source)
        files = not folder.is_dir() or _has_tokenizer_files(folder)  # a hub id's files are on the hub
        said = ("holds a tokenizer whose vocabulary is only special tokens" if files
                else "has no tokenizer files (such as tokenizer.json or vocab.txt)")  # a vocabulary of [PAD], [UNK]..
        raise ModelLoadError(
            f"'{source}' {said}: every word would read as the unknown token. Save the tokenizer beside the model "
            "(the one it was trained with)."
        )
    return tokenizer


def _has_tokenizer_files(folder: Path) -> bool:
    """Whether `folder` holds a tokenizer's files: tokenizer.json / tokenizer_config.json, a vocabulary, BPE merges
    or a SentencePiece model (spiece.model, sentencepiece.bpe.model)."""
    return any(any(folder.glob(pattern)) for pattern in ("tokenizer*", "vocab*", "merges*", "*.model"))


def _config_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> str | None:
    """The token of the config's pad_token_id where the tokenizer holds it as a special token (None otherwise):
    an ordinary word of that id made the pad token would be read as one typed, and kept by every baseline."""
    pad = model.config.pad_token_id
    added = tokenizer.added_tokens_decoder.get(pad) if isinstance(pad, int) else None
    return str(added) if added is not None and added.special else None


def _pad_as_the_classifier_skips(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> None:
    """A decoder's classifier reads the last token that is not its config's pad id, so batches must pad with that
    id. A checkpoint whose tokenizer pads with another (a [PAD] added to the tokenizer, the config left at
    end-of-text) had every shorter row of a batch read at a padding position: predictions, the map and the
    counterfactual search disagreed with the single-text views. The tokenizer pads with the config's id instead."""
    pad = model.config.pad_token_id
    if family_of(model).readout != "last" or pad is None or tokenizer.pad_token_id == pad:
        return
    token = tokenizer.convert_ids_to_tokens(int(pad)) if 0 <= int(pad) < len(tokenizer) else None
    if token is None:  # no token to pad with: the classifier skips the tokenizer's pad instead (no text holds id pad)
        logger.info("the config's pad id %s is outside the vocabulary: the classifier skips %r instead", pad,
                    tokenizer.pad_token)
        model.config.pad_token_id = tokenizer.pad_token_id
        return
    logger.info("padding batches with %r (id %d), the pad id the classifier skips, not the tokenizer's %r",
                token, int(pad), tokenizer.pad_token)
    tokenizer.pad_token = token


def _require_classifier_head(model: PreTrainedModel, name: str) -> None:
    if not hasattr(model.config, "id2label") or model.config.num_labels < 1:
        raise ModelLoadError(f"'{name}' defines no labels")
    if getattr(model.config, "is_encoder_decoder", False):  # BART, T5: two stacks, cross-attention between them
        raise ModelLoadError(
            f"'{name}' is an encoder-decoder model ({model.config.model_type}): the workbench explains classifiers "
            "of one stack (encoder or decoder), whose attention and hidden states it reads layer by layer"
        )
    ids = sorted(int(i) for i in model.config.id2label)
    if ids != list(range(model.config.num_labels)):  # {"0": "neg", "5": "pos"} showed ('neg', 'LABEL_1')
        shown = ", ".join(map(str, ids[:8])) + (", ..." if len(ids) > 8 else "")
        raise ModelLoadError(
            f"'{name}': the id2label of its config.json numbers its labels {shown}; the classifier's "
            f"{model.config.num_labels} outputs are numbered 0 to {model.config.num_labels - 1}"
        )
    names: dict[str, list[int]] = {}
    for i in ids:  # as data files match labels: case and edge spaces aside ("pos" and " Pos" are one name there)
        names.setdefault(str(model.config.id2label[i]).strip().casefold(), []).append(i)
    twice = [held for held in names.values() if len(held) > 1]
    if twice:  # {"0": "pos", "1": "pos"}: probabilities by name lost one, and data files matched the wrong id
        said = " and ".join(repr(str(model.config.id2label[i])) for i in twice[0])
        raise ModelLoadError(
            f"'{name}': the id2label of its config.json names ids {', '.join(map(str, twice[0]))} {said}, one name "
            "where case and spaces are set aside; each label needs a name of its own (predictions, probabilities "
            "and data files name labels): rename them in config.json"
        )
    problem = getattr(model.config, "problem_type", None)
    if problem in ("multi_label_classification", "regression"):  # a softmax would show made-up probabilities
        kind = ("a multi-label classifier (an independent sigmoid per label, several may hold)"
                if problem == "multi_label_classification" else "a regression model (its outputs are values)")
        raise ModelLoadError(
            f"'{name}' is {kind}: its config.json says problem_type {problem}. The workbench explains single-label "
            "classifiers, whose probabilities a softmax over the labels gives."
        )
    if model.config.num_labels == 1:  # a softmax over one logit is 1.0 whatever the text
        raise ModelLoadError(
            f"'{name}' has a single output (a regression or single-logit head): the workbench explains classifiers "
            "of two or more labels, whose probabilities a softmax gives."
        )


def _require_tokenizer_fits(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, name: str) -> None:
    """Refuse a tokenizer whose padding or whose tokens added to every input (CLS, SEP, BOS…) have ids the model
    has no embedding for: every input, or every batch, would fail deep in the model (another model's tokenizer,
    or a token added without resizing the embeddings). A rarer added token is refused where a text holds it
    (capture.encoding.tokenize)."""
    rows = embedding_rows(model)
    if rows is None:
        return
    always = set(tokenizer("a")["input_ids"]) | ({tokenizer.pad_token_id} - {None})
    beyond = sorted(i for i in always if i >= rows)
    if beyond:
        tokens = ", ".join(repr(tokenizer.convert_ids_to_tokens(i)) for i in beyond[:3])
        raise ModelLoadError(
            f"'{name}': its tokenizer gives ids the model has no embedding for ({tokens}: id {beyond[0]:,}; the "
            f"model embeds {rows:,}): they do not belong together"
        )


def embedding_rows(model: PreTrainedModel) -> int | None:
    """How many token ids the model embeds (None when it does not say)."""
    try:
        embeddings = model.get_input_embeddings()
    except NotImplementedError:  # CANINE hashes characters: transformers has no one embedding table to return
        return None
    return getattr(embeddings, "num_embeddings", None)


def probe_inputs(bundle: ModelBundle, text: str):
    """`text` tokenised as tensors on the model's device for a check of the model itself (its words do not matter),
    ids cut to the embedding's rows: a tokenizer may know words the model cannot embed (refused in a user's text,
    capture.encoding), which made every load or causal run fail with an IndexError, and cut to the model's readable
    length (a model of 16 positions refused at load, or failed in patching with a traceback, on a 17-token probe)."""
    encoded = bundle.tokenizer(text, truncation=True, max_length=bundle.max_length, return_tensors="pt")
    encoded = encoded.to(bundle.device)
    rows = embedding_rows(bundle.model)
    if rows is not None:
        encoded["input_ids"] = encoded["input_ids"].clamp(max=rows - 1)
    return encoded


def _first_line(error: BaseException) -> str:
    """An error's first line, spaces collapsed: transformers' messages run on with advice (pip, remote code)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].rstrip().endswith(":"):  # "Validation error for field 'x':" and its reason
        lines = [lines[0] + " " + lines[1]]
    return " ".join(lines[0].split()) if lines else type(error).__name__


def _own_weights(model: PreTrainedModel) -> None:
    """Copy every parameter and buffer still mapped from the checkpoint file into the process's own memory (a move to a
    GPU copies them anyway). safetensors loads them memory-mapped: a file rewritten in place (`cp new.safetensors
    model.safetensors` truncates, then writes) changed the loaded model's numbers with no reload, and one truncated
    killed the whole server with SIGBUS mid-computation. Parameters are replaced in place, so tied weights stay
    tied."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()
        for module in model.modules():
            for key, buffer in module._buffers.items():
                if buffer is not None:
                    module._buffers[key] = buffer.clone()


def readable_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> int:
    """The most tokens (special ones in) `model` reads: its positions and its tokenizer's limit, the smaller."""
    config = model.config
    candidates = []
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if positions and positions > 0:  # XLNet's -1: no limit (relative positions); 512 unless its tokenizer says
        candidates.append(positions - position_offset(model))  # an unlisted family's read off its embeddings
    if 0 < tokenizer.model_max_length < 100_000:
        candidates.append(tokenizer.model_max_length)
    return min(candidates) if candidates else 512


# How backends without their own exception type say it: MPS ("MPS backend out of memory"), CUDA kernels and
# cuBLAS ("CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED") raise a plain RuntimeError.
_OUT_OF_MEMORY_SAID = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED")


def out_of_memory(error: BaseException) -> bool:
    """Whether an error is the machine running out of memory (a later try may fit), not a broken model."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(said in str(error) for said in _OUT_OF_MEMORY_SAID)


def _check_attention_is_returned(bundle: ModelBundle) -> None:
    """Eager attention is enforced at load; this proves it: SDPA would silently return no weights."""
    encoded = probe_inputs(bundle, "attention check")
    try:
        with bundle.lock, torch.inference_mode():
            out = bundle.model(
                input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], output_attentions=True
            )
    except Exception as error:  # noqa: BLE001 - a config no forward pass survives (albert's num_hidden_groups 0
        # divides by it): said at load, by name, not as a traceback on every page
        if out_of_memory(error):
            raise  # the machine, not the model: said as such by whoever loads it (a later try may fit)
        said = _first_line(error)
        reason = said if said == type(error).__name__ else f"{type(error).__name__}: {said}"
        raise ModelLoadError(f"'{bundle.name}' fails on a short probe text, so no view can run it: {reason}"[:400]) \
            from error
    attentions = getattr(out, "attentions", None)
    if not attentions or len(attentions) != sizes(bundle.model.config).layers or attentions[0] is None:
        raise ModelLoadError(
            f"'{bundle.name}' does not return attention weights even with eager attention "
            f"(implementation: {bundle.model.config._attn_implementation}); its attention cannot be shown"
        )
    logits = getattr(out, "logits", None)
    if logits is not None and not bool(torch.isfinite(logits).all()):  # a NaN bias: every command and page gave
        # the first label as its prediction, with no probability (None in the JSON)
        raise ModelLoadError(f"'{bundle.name}' gives no finite output on a short probe text (NaN or infinity): its "
                             "weights are damaged or overflow, so no prediction of it can be explained")
    # a model that pools tokens between layers (Funnel): said at load, not as a crash in every view
    length = encoded["input_ids"].shape[1]
    if refusal := layer_shape_refusal(bundle.name, bundle.model.config.model_type, length, attentions):
        raise ModelLoadError(refusal)


hf_logging.set_verbosity_error()  # hide HF chatter on long inputs and loading; our errors say what matters
hf_logging.disable_progress_bar()


def replica(bundle: ModelBundle) -> ModelBundle:
    """A second, independent copy of a loaded model (weights and tokenizer copied, its own lock), for work that
    must not hold the shared bundle's lock for long: the app runs expensive sections on it so that one session's
    attribution graph never delays another session's first figure. Same weights, so the same numbers."""
    with bundle.lock:  # nobody has hooks on the model while it is copied
        model = copy.deepcopy(bundle.model)
        tokenizer = copy.deepcopy(bundle.tokenizer)
    model.eval()
    return dataclasses.replace(bundle, model=model, tokenizer=tokenizer, lock=threading.RLock())
