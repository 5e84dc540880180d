"""The "Target label" picker of the Attribution and Causal pages: None for the predicted label, else a label name.

The predicted label was a string choice, "Predicted label", beside the model's names: a model with a label of that
name offered it twice, and both entries meant the prediction. None cannot clash with a name; it is shown as
"Predicted label" and left out of the link (a link without target= opens on the prediction)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

PREDICTED_TEXT = "Predicted label"
_PREDICTED_WORDS = ("", "predicted label", "predicted")  # what older links and hand-written ones said


def choices(label_names: Sequence[str]) -> list[str | None]:
    return [None, *label_names]


def shown(choice: str | None) -> str:
    """A choice as the select box and the link's toasts show it."""
    return PREDICTED_TEXT if choice is None else choice


def parse(label_names: Sequence[str]) -> Callable[[str], str | None]:
    """How a link's target= is read: a label's name (case and spaces aside) is that label, even one named
    "Predicted label"; else an empty value or "Predicted label" is the prediction; anything else stays as written,
    for the page's toast to refuse."""
    keys = {name.strip().casefold() for name in label_names}

    def read(raw: str) -> str | None:
        key = raw.strip().casefold()
        return raw if key in keys or key not in _PREDICTED_WORDS else None

    return read


def link_value(choice: str | None) -> str:
    """The link's target=: empty for the prediction (the parameter is then left out)."""
    return "" if choice is None else choice
