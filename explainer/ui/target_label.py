"""The "Target label" picker of the Attribution and Causal pages: PREDICTED for the predicted label, else a label
name.

The predicted label was the string "Predicted label" beside the model's names: a model with a label of that name
offered it twice, and both entries meant the prediction. PREDICTED is a value no label name has, shown as
"Predicted label" and left out of the link (a link without target= opens on the prediction); a label whose name
reads the same is shown with a suffix, since Streamlit tells a select box's entries apart by the text it shows.
(Not None: Streamlit's select box reads a None in its session state as "nothing chosen" and shows an empty box.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from explainer.capture.validation import label_key
from explainer.ui import links

PREDICTED = "\x00predicted"  # the choice of the predicted label: no model names a label so (a NUL character)
PREDICTED_TEXT = "Predicted label"
_PREDICTED_WORDS = ("", "predicted label", "predicted")  # what older links and hand-written ones said


def picker(container, key: str, label_names: Sequence[str], help: str | None = None) -> str:
    """The "Target label" select box in `container` under widget `key`, seeded from the link's target= (a label
    it lacks: the prediction, said in a toast); returns the choice (target() and link_value() read it)."""
    choices = [PREDICTED, *label_names]
    links.seed_choice(key, "target", choices, tell=True, parse=parse(label_names), shown=shown)
    return container.selectbox("Target label", choices, format_func=shown, key=key, help=help)


def shown(choice: str) -> str:
    """How the select box (and a link's toast) shows a choice: every entry a text of its own."""
    if choice == PREDICTED:
        return PREDICTED_TEXT
    if label_key(choice) == label_key(PREDICTED_TEXT):
        return f"{choice} (a label of the model)"
    return choice


def parse(label_names: Sequence[str]) -> Callable[[str], str]:
    """How a link's target= is read: a label's name (case and spaces aside) is that label, even one named
    "Predicted label"; else an empty value or "Predicted label" is the prediction; else a label's index, as
    `--target` takes one ("1" on a LABEL_0/LABEL_1 model was refused); anything else stays as written, for the
    page's toast to refuse."""
    by_name_or_index = parse_label(label_names)
    keys = {label_key(name) for name in label_names}

    def read(raw: str) -> str:
        key = label_key(raw)
        return PREDICTED if key not in keys and key in _PREDICTED_WORDS else by_name_or_index(raw)

    return read


def parse_label(label_names: Sequence[str]) -> Callable[[str], str]:
    """How a link names a label (target=, What-if's flip_to=): a label's name (case and spaces aside) stays as
    written, for the picker to match; else a label's index is that label, as `--target` takes one; anything else
    stays as written, for the page's toast to refuse."""
    keys = {label_key(name) for name in label_names}

    def read(raw: str) -> str:
        key = label_key(raw)
        if key not in keys and key.isascii() and key.isdigit() and int(key) < len(label_names):  # a name first
            return label_names[int(key)]
        return raw

    return read


def target(choice: str) -> str | None:
    """The label to compute for: None for the prediction."""
    return None if choice == PREDICTED else choice


def link_value(choice: str) -> str:
    """The link's target=: empty for the prediction (the parameter is then left out)."""
    return "" if choice == PREDICTED else choice
