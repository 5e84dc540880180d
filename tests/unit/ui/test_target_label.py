"""The Target label picker's choices, texts and link values (explainer/ui/target_label.py)."""

from __future__ import annotations

from explainer.ui import target_label
from explainer.ui.target_label import PREDICTED


def test_a_link_names_a_label_by_name_first_then_by_index_as_the_command_line_does():
    """target=1 on a LABEL_0/LABEL_1 model was refused, where `--target 1` takes the index."""
    read = target_label.parse(("LABEL_0", "LABEL_1"))
    assert read("1") == "LABEL_1" and read("label_0") == "label_0" and read("7") == "7"  # 7: refused by the page
    assert read("") == PREDICTED and read("Predicted label") == PREDICTED and read("nobody") == "nobody"
    numbered = target_label.parse(("1", "0"))  # labels named like indices: the name wins
    assert numbered("1") == "1" and numbered("0") == "0"
    clash = target_label.parse(("Predicted label", "other"))
    assert clash("predicted label") == "predicted label"  # the model's label, not the prediction


def test_every_entry_reads_differently_so_the_browser_s_choice_comes_back_as_itself():
    texts = [target_label.shown(choice) for choice in (PREDICTED, "Predicted label", "other")]
    assert texts == ["Predicted label", "Predicted label (a label of the model)", "other"]
    assert target_label.target(PREDICTED) is None and target_label.target("other") == "other"
    assert target_label.link_value(PREDICTED) == "" and target_label.link_value("other") == "other"
