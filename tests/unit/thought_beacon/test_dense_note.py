"""The note a dense run (attribution, ablation, patching) writes when it would predict another label than the
model at its own tau."""

from __future__ import annotations

import math

from explainer.thought_beacon.dense import differs_note

LABELS = ("negative", "positive")


def test_agreeing_runs_write_no_note():
    assert differs_note(LABELS, 1, [0.0, 2.0]) is None


def test_a_confident_disagreement_is_not_called_a_near_tie_and_gives_the_dense_probability():
    # sst2-minilm-thought-beacon on "a painfully funny ode to bad behavior .": negative 0.73 at its tau, positive
    # 0.71 dense; the note called that "a near-tie"
    dense = [0.0, math.log(0.711 / 0.289)]
    note = differs_note(LABELS, 0, dense, "for the clean text", at="tau 0.4")
    assert note is not None and "near-tie" not in note
    assert note.startswith("At tau 0.4 the model predicts negative for the clean text; run dense it would predict "
                           "positive (71%)")
    assert note.endswith("The target by default is negative, the prediction the other views show.")


def test_a_corrupted_text_note_says_the_dense_label_is_the_one_shown():
    # patching's corrupted text is not the target: its note says which run the page shows
    note = differs_note(LABELS, 1, [1.0, 0.0], "for the corrupted text", is_target=False)
    assert note is not None and note.startswith("At its own tau the model predicts positive for the corrupted text")
    assert note.endswith("The negative shown here is the dense run's; the other views show positive.")
