"""Rollout and head statistics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.attention.statistics import attention_rollout, head_statistics

# Two layers, one head, three tokens.
A1 = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
A2 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_rollout_of_two_layers_by_hand():
    attentions = np.stack([A1[None], A2[None]])  # [2, 1, 3, 3]
    # With the residual: A' = 0.5 A + 0.5 I (rows already sum to 1).
    r1 = np.array([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 0.25, 0.75]])
    r2 = np.array([[0.5, 0.0, 0.5], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    expected = r2 @ r1  # layer 2 applied after layer 1
    assert expected[0].tolist() == pytest.approx([0.5, 0.125, 0.375])
    np.testing.assert_allclose(attention_rollout(attentions), expected)
    np.testing.assert_allclose(attention_rollout(attentions).sum(axis=-1), 1.0)
    # Without the residual it is the plain product.
    np.testing.assert_allclose(attention_rollout(attentions, residual=False), A2 @ A1)


def test_rollout_averages_heads():
    attentions = np.stack([A1, A2])[None]  # one layer, two heads
    mean = (A1 + A2) / 2
    np.testing.assert_allclose(attention_rollout(attentions, residual=False), mean)


def test_head_statistics_by_hand():
    stats = head_statistics(np.stack([A1[None], A2[None]]))
    # A1 rows: entropies 0, ln 2, ln 2 -> mean 2 ln 2 / 3
    assert stats.entropy[0, 0] == pytest.approx(2 * np.log(2) / 3)
    assert stats.entropy[1, 0] == pytest.approx(0.0)
    # A1 distances: row0 0; row1 0.5*1; row2 0.5*1 -> 1/3.  A2: row0 2, row1 1, row2 1 -> 4/3
    assert stats.mean_distance[:, 0].tolist() == pytest.approx([1 / 3, 4 / 3])
    assert stats.first_token_share[:, 0].tolist() == pytest.approx([0.5, 1 / 3])  # (1+.5+0)/3, (0+1+0)/3
    assert stats.last_token_share[:, 0].tolist() == pytest.approx([0.5 / 3, 1 / 3])
    assert stats.self_share[:, 0].tolist() == pytest.approx([2 / 3, 0.0])  # (1+.5+.5)/3
    assert stats.previous_token_share[:, 0].tolist() == pytest.approx([0.5, 1.0])  # (.5+.5)/2, (1+1)/2
    rows = stats.as_rows()
    assert [(r["layer"], r["head"]) for r in rows] == [(0, 0), (1, 0)]
    assert rows[1]["mean_distance"] == pytest.approx(4 / 3)


def test_statistics_on_a_real_trace(ours_bundle):
    from explainer import trace

    captured = trace(ours_bundle, "the film was good but too long")
    stats = head_statistics(captured.attentions)
    layers, heads = captured.attentions.shape[:2]
    assert stats.entropy.shape == (layers, heads)
    assert (stats.entropy >= 0).all() and (stats.entropy <= np.log(len(captured.tokens)) + 1e-9).all()
    for share in (stats.first_token_share, stats.last_token_share, stats.self_share, stats.previous_token_share):
        assert ((share >= 0) & (share <= 1 + 1e-9)).all()
    rollout = attention_rollout(captured.attentions)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, atol=1e-9)
