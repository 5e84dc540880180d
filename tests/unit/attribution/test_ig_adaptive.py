"""Adaptive integrated gradients (explainer/ig_adaptive.py): against captum's trapezoid rule on the same grid,
against the exact answer of a function whose IG is known in closed form, and its bookkeeping (nested points,
the budget, the delta)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from explainer.attribution import AttributionOptions, attribute, ig_adaptive
from explainer.attribution.inputs import logits_of_embeddings, prepare, target_of

TEXT = "The film is a quiet triumph, warm and funny."


def separable_steps(sharpness: float) -> tuple[torch.Tensor, torch.Tensor, callable, np.ndarray]:
    """F(e) = sum_t tanh(k (w . e_t - c_t)) + (v . e_t)^2: each token's own steep step, all crossed in one narrow
    stretch of the path (as a sharp routing switch does in a trained model), on a smooth curved background.
    F is a sum of per-token functions and the baseline is 0, so token t's IG is exactly f_t(x_t) - f_t(0)."""
    generator = torch.Generator().manual_seed(0)
    tokens, dim = 6, 5
    x = torch.randn(1, tokens, dim, generator=generator, dtype=torch.float64)
    base = torch.zeros_like(x)
    w, v = torch.randn(2, dim, generator=generator, dtype=torch.float64)
    x = x * torch.sign(x @ w)[..., None]  # every step rises along the path: no cancellation between tokens
    crossing = torch.linspace(0.30, 0.36, tokens, dtype=torch.float64)  # where along the path each step sits
    offset = crossing * (x[0] @ w)  # w . (a x) = a (w . x): token t crosses c_t at a = crossing_t

    def per_token(embeds: torch.Tensor) -> torch.Tensor:  # [n, T, d] -> [n, T]
        return torch.tanh(sharpness * (embeds @ w - offset)) + 0.1 * (embeds @ v) ** 2

    def forward(embeds: torch.Tensor) -> torch.Tensor:  # [n, T, d] -> [n]
        return per_token(embeds).sum(dim=-1)

    exact = (per_token(x) - per_token(base))[0].numpy()
    return x, base, forward, exact


def test_agrees_token_by_token_with_captums_gauss_legendre_at_many_steps(bundle):
    """Same integral, independent code: captum's IntegratedGradients with 128 Gauss-Legendre points."""
    loaded = bundle("bert")
    prepared = prepare(loaded, TEXT)
    label, _ = target_of(loaded, prepared, None)
    logits = logits_of_embeddings(loaded, prepared)

    def forward(embeds):
        return logits(embeds)[:, label]

    x, base = prepared.embeddings, prepared.baseline_embeddings
    with torch.enable_grad():
        path = ig_adaptive.integrate(
            ig_adaptive.path_integrand(forward, x, base, batch=8), tolerance=1e-3, max_points=257
        )
        theirs = IntegratedGradients(forward).attribute(x, baselines=base, n_steps=128, method="gausslegendre")
    theirs = theirs[0].sum(-1).double().numpy()
    gap = path.values[-1] - path.values[0]
    assert path.error_bound <= 1e-3 * abs(gap)
    np.testing.assert_allclose(path.token_scores, theirs, rtol=0, atol=2e-3 * abs(gap))


def test_captums_trapezoid_rule_is_short_by_one_step_which_is_why_it_is_not_offered():
    """captum's riemann_trapezoid puts n points 1/(n-1) apart but gives them steps of 1/n: on a linear F, where
    the trapezoid rule is exact, it returns (n-1)/n of the answer. Adaptive IG is exact there."""
    w = torch.tensor([0.5, -2.0, 1.5], dtype=torch.float64)
    x = torch.tensor([[[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]], dtype=torch.float64)
    base = torch.zeros_like(x)

    def forward(embeds):
        return (embeds @ w).sum(-1)

    exact = (x[0] @ w).numpy()
    theirs = IntegratedGradients(forward).attribute(x, baselines=base, n_steps=5, method="riemann_trapezoid")
    np.testing.assert_allclose(theirs[0].sum(-1).numpy(), exact * 4 / 5)
    ours = ig_adaptive.integrate(ig_adaptive.path_integrand(forward, x, base, batch=4), tolerance=1e-9, max_points=5)
    np.testing.assert_allclose(ours.token_scores, exact)
    assert ours.points == 5  # exact from the first grid (max_points): no refinement needed
    assert ours.rounds == 1


def test_a_narrow_feature_reaches_the_exact_attribution_token_by_token():
    x, base, forward, exact = separable_steps(sharpness=12.0)
    evaluate = ig_adaptive.path_integrand(forward, x, base, batch=16)
    tolerance = 1e-3
    path = ig_adaptive.integrate(evaluate, tolerance=tolerance, max_points=512)
    gap = exact.sum()
    assert path.values[-1] - path.values[0] == pytest.approx(gap)
    assert abs(path.delta) <= path.error_bound <= tolerance * abs(gap)
    assert path.delta == pytest.approx(path.token_scores.sum() - gap, abs=1e-12)
    assert path.rounds > 1  # the first grid misses the steps; refinement found them
    # Each token's share is right, not only the total.
    np.testing.assert_allclose(path.token_scores, exact, rtol=0, atol=tolerance * abs(gap))
    # The refined points sit where the steps are (alpha 0.30-0.36), not spread over the path.
    refined = path.alphas[~np.isin(path.alphas, np.linspace(0, 1, ig_adaptive.FIRST_INTERVALS + 1))]
    assert np.mean((refined > 0.2) & (refined < 0.45)) > 0.6


def test_stopping_on_delta_alone_can_stop_while_tokens_are_still_wrong():
    """Errors of opposite sign in different panels cancel in |delta|; the error bound does not let them. (It
    sums each panel's error over tokens, so tokens within one panel can still offset: hence the factor 2.)"""
    x, base, forward, exact = separable_steps(sharpness=12.0)
    evaluate = ig_adaptive.path_integrand(forward, x, base, batch=16)
    tolerance = 2e-2
    on_delta = ig_adaptive.integrate(evaluate, tolerance=tolerance, max_points=512, stop="delta")
    on_bound = ig_adaptive.integrate(evaluate, tolerance=tolerance, max_points=512)
    gap = abs(exact.sum())
    assert abs(on_delta.delta) <= tolerance * gap and abs(on_bound.delta) <= tolerance * gap
    assert on_delta.error_bound > 2 * tolerance * gap  # |delta| read under 2% thanks to cancellation
    assert on_delta.points < on_bound.points
    worst_on_bound = np.abs(on_bound.token_scores - exact).max()
    assert worst_on_bound <= 2 * tolerance * gap
    assert np.abs(on_delta.token_scores - exact).max() > 2 * worst_on_bound


def test_points_are_nested_and_the_budget_holds():
    x, base, forward, _ = separable_steps(sharpness=4.0)
    calls: list[np.ndarray] = []
    integrand = ig_adaptive.path_integrand(forward, x, base, batch=3)

    def evaluate(alphas):
        calls.append(np.array(alphas))
        return integrand(alphas)

    path = ig_adaptive.integrate(evaluate, tolerance=1e-9, max_points=40)
    evaluated = np.concatenate(calls)
    # Every point evaluated once and kept (none thrown away); a split adds 2 points, so the budget may leave 1.
    assert 38 <= path.points <= 40 and path.points == len(evaluated)
    np.testing.assert_array_equal(np.sort(evaluated), path.alphas)
    np.testing.assert_allclose(calls[0], np.linspace(0, 1, ig_adaptive.FIRST_INTERVALS + 1))
    assert (np.diff(path.alphas) > 0).all()
    # Every later point halves an interval of the grid before it (dyadic: exact in binary).
    assert all(np.all(np.round(call * 2**20) == call * 2**20) for call in calls)


def test_a_round_splits_the_panels_carrying_half_the_error_and_every_panel_well_over_its_share():
    widths = np.full(4, 0.25)
    allowed = 0.01  # the tolerated error bound: a quarter-width panel's share is 0.0025
    errors = np.array([0.1, -0.001, -0.006, 0.0001])
    # Panel 0 alone carries half the |error|; panel 2 is over twice its share (0.005) too; 1 and 3 are within.
    np.testing.assert_array_equal(ig_adaptive.panels_to_split(errors, widths, allowed, budget=10), [0, 2])
    np.testing.assert_array_equal(ig_adaptive.panels_to_split(errors, widths, allowed, budget=1), [0])
    # A loose tolerance leaves only the share rule: one panel still splits, so every round makes progress.
    np.testing.assert_array_equal(ig_adaptive.panels_to_split(errors, widths, 1.0, budget=10), [0])
    # A panel at the smallest width is never split, however large its error.
    tiny = np.array([0.5, 0.5, ig_adaptive.SMALLEST_PANEL, 0.5 - ig_adaptive.SMALLEST_PANEL])
    np.testing.assert_array_equal(ig_adaptive.panels_to_split(errors[[2, 1, 0, 3]], tiny, allowed, 10), [0])
    assert len(ig_adaptive.panels_to_split(np.zeros(4), widths, allowed, budget=10)) == 0


def test_the_model_path_default_is_adaptive_and_meets_the_tolerance(bundle):
    loaded = bundle("ours")
    result = attribute(loaded, TEXT, "integrated_gradients")
    assert AttributionOptions().integration == "adaptive"
    assert result.relative_delta <= 0.01
    fixed = attribute(
        loaded, TEXT, "integrated_gradients", options=AttributionOptions(integration="gausslegendre", steps=64)
    )
    # The same integral by another rule: per-token scores agree to within both runs' errors.
    slack = abs(result.convergence_delta) + abs(fixed.convergence_delta) + 0.02 * abs(result.logit_gap)
    assert np.abs(result.scores - fixed.scores).max() <= slack


def test_float32_round_off_over_many_panels_is_no_unconverged_error():
    """`--steps 4096` on a tiny model: the scores exact (delta -8e-8), yet the bound summed ~2,000 panels' float32
    round-off to 3.4% of the gap and the output said the integral had not converged."""
    def evaluate(alphas):  # F(a) = 100 + 0.01 a in float32: each value rounded by up to ~4e-6, 0.04% of the gap
        values = (np.float32(100.0) + np.float32(0.01) * alphas.astype(np.float32)).astype(np.float32)
        return values, np.full((len(alphas), 1), 0.01, dtype=np.float32)

    result = ig_adaptive.integrate(evaluate, tolerance=0.01, max_points=4097, first_intervals=4096)
    assert result.points == 4097 and abs(result.delta) < 1e-4
    assert abs(result.delta) <= result.error_bound <= 0.01 * 0.01  # within the tolerance, as the scores are
