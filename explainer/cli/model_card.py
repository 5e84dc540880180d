"""`python -m explainer model-card DIR`: re-render a model's card (README.md) from its metrics.json."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from explainer.cli.common import fail, named_folder
from explainer.data.folders import not_a_folder
from explainer.training.model_card import write_card

MAX_METRICS_BYTES = 10_000_000  # a run's metrics.json is a few KB


def main(argv: list[str] | None = None) -> None:
    """Re-render a model folder's card, DIR/README.md, from DIR/metrics.json (the README is overwritten)."""
    parser = argparse.ArgumentParser(prog="python -m explainer model-card", description=main.__doc__)
    parser.add_argument("folder", type=named_folder,
                        help="the model folder: its metrics.json is read, its README.md written")
    folder = parser.parse_args(argv).folder
    if not folder.is_dir():
        fail(f"{folder} is not a model folder")
    metrics_file = folder / "metrics.json"
    if metrics_file.exists() and not metrics_file.is_file():  # a pipe blocked for ever, /dev/zero ran out of memory
        what = "a folder" if metrics_file.is_dir() else not_a_folder(metrics_file)
        fail(f"{metrics_file} is {what}, not the file a training run writes")
    if metrics_file.is_file() and metrics_file.stat().st_size > MAX_METRICS_BYTES:
        fail(f"{metrics_file} is {metrics_file.stat().st_size:,} bytes: a training run writes a few kilobytes")
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        odd = implausible(metrics)  # NaN or -5 as an accuracy was written into the card as "nan"
    except FileNotFoundError:
        fail(f"{folder} has no metrics.json: the card is rendered from the metrics a training run here writes "
             "(python -m explainer train); a model trained elsewhere has its own card, if any")
    except (OSError, ValueError) as error:
        fail(f"cannot read {folder / 'metrics.json'}: {error}")
    except RecursionError:  # a value nested thousands deep: past json's limit, or implausible's
        fail(f"cannot read {folder / 'metrics.json'}: its values are nested too deep")
    if odd is not None:
        fail(f"{folder / 'metrics.json'} holds {odd}: was it written by explainer.train?")
    try:
        write_card(folder, folder.resolve().name, metrics)  # titled as train titles it: "." by its folder
    except KeyError as error:
        fail(f"{folder / 'metrics.json'} lacks what a model card needs ({error}): was it written by explainer.train?")
    # a value of another type ("high", null, a list), or a number no run writes (0 rows, an integer of 400 digits)
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError) as error:
        fail(f"{folder / 'metrics.json'} holds a value of the wrong kind for a model card ({error}): was it written "
             "by explainer.train?")
    except OSError as error:
        fail(f"cannot write to {folder / 'README.md'}: {error.strerror or error}")
    print(f"wrote {folder / 'README.md'}")


SHARES = {"accuracy", "macro_f1", "skip_rate", "mlp_flops_saved", "total_flops_saved", "marker_mean_max_prob"}


def implausible(metrics: Any, where: str = "") -> str | None:
    """The first value no training run writes, said with its place ("dev.accuracy = nan"): a number that is not
    finite, or a share (accuracy, skip rate ...) outside 0 to 1; None when there is none."""
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            place = f"{where}.{key}" if where else str(key)
            # an int is finite however long (math.isfinite(10**400) raised OverflowError)
            number = (isinstance(value, int) and not isinstance(value, bool)
                      or isinstance(value, float) and math.isfinite(value))
            if key in SHARES and number and not 0 <= value <= 1:
                return f"{place} = {value}, not a share from 0 to 1"
            if key in SHARES and isinstance(value, bool):  # `true` rendered as an accuracy of 1.0000
                return f"{place} = {str(value).lower()}, not a share from 0 to 1"
            if (found := implausible(value, place)) is not None:
                return found
    elif isinstance(metrics, list):
        for index, value in enumerate(metrics):
            if (found := implausible(value, f"{where}[{index}]")) is not None:
                return found
    elif isinstance(metrics, float) and not math.isfinite(metrics):
        return f"{where} = {metrics}, not a number a run writes"
    return None
