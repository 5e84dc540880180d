"""Likely-mislabelled examples: rows whose label disagrees with most of their nearest neighbours' labels and
with the model's prediction (the "conflicting neighbours" signal).

score = (share of the k neighbours labelled otherwise + (1 - the model's probability of the row's label)) / 2,
in [0, 1]; only rows where more than half the neighbours and the model disagree, and another label outnumbers the
row's own among the neighbours, are listed, highest score first. With two labels the last follows from the first;
with more it does not: 4 neighbours of the row's label against 3 and 3 of two others is 60% disagreement, yet the
neighbours' most common label is the row's own, which is no sign of a wrong label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainer.dataset_map.neighbours import Neighbours

COLUMNS = ("row", "score", "neighbour_disagreement", "label", "predicted", "neighbour_label", "p_label")


def likely_mislabelled(labels: np.ndarray, probabilities: np.ndarray, neighbours: Neighbours) -> pd.DataFrame:
    """labels [N] ids, probabilities [N, labels]: one row per likely-mislabelled example (COLUMNS; labels as ids),
    ranked by score (ties: file order)."""
    labels = np.asarray(labels, dtype=np.int64)
    n, classes = probabilities.shape
    if neighbours.k == 0 or n == 0:
        return pd.DataFrame({column: [] for column in COLUMNS})
    neighbour_labels = labels[neighbours.indices]  # [N, k]
    disagreement = (neighbour_labels != labels[:, None]).mean(axis=1)  # [N]
    votes = np.stack([(neighbour_labels == c).sum(axis=1) for c in range(classes)], axis=1)  # [N, labels]
    own = votes[np.arange(n), labels]  # [N] neighbours sharing the row's label
    others = votes.copy()
    others[np.arange(n), labels] = -1  # the row's own label is never its "neighbour label"
    outnumbered = others.max(axis=1) > own  # [N] another label is more common among the neighbours
    predicted = probabilities.argmax(axis=1)
    p_label = probabilities[np.arange(n), labels]
    score = (disagreement + (1.0 - p_label)) / 2.0
    # A row without a finite vector has no neighbours (-1, which numpy would read as the last row's label), and
    # one without finite probabilities no prediction to disagree with: neither is ranked.
    searched = (neighbours.indices >= 0).all(axis=1) & np.isfinite(probabilities).all(axis=1)
    chosen = np.flatnonzero((disagreement > 0.5) & outnumbered & (predicted != labels) & searched)
    chosen = chosen[np.lexsort((chosen, -score[chosen]))]
    return pd.DataFrame(
        {
            "row": chosen,
            "score": score[chosen],
            "neighbour_disagreement": disagreement[chosen],
            "label": labels[chosen],
            "predicted": predicted[chosen],
            "neighbour_label": others[chosen].argmax(axis=1),  # the most common other label (ties: lower id)
            "p_label": p_label[chosen].astype(np.float64),
        }
    )
