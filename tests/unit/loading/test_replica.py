"""The background copy of a model: the same numbers, its own weights, tokenizer and lock, so a long computation
holding it never delays the shared model's next trace."""

from __future__ import annotations

import threading

import numpy as np
import torch

from explainer.capture.tracing import trace
from explainer.loading.bundle import replica


def test_a_replica_gives_the_same_trace_and_shares_nothing_mutable(bundle):
    shared = bundle("ours")
    copy = replica(shared)
    first, second = trace(shared, "a fine film"), trace(copy, "a fine film")
    # Same weights; copies may sit at other alignments, so BLAS may round the last bit differently.
    np.testing.assert_allclose(first.logits, second.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.attentions, second.attentions, rtol=1e-5, atol=1e-6)
    assert copy.lock is not shared.lock and copy.tokenizer is not shared.tokenizer
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(copy.model.parameters(), shared.model.parameters()))


def test_a_long_computation_on_the_replica_does_not_block_the_shared_model(bundle):
    shared = bundle("bert")
    copy = replica(shared)
    holding, release = threading.Event(), threading.Event()

    def long_section() -> None:  # e.g. the attribution graph of another session, with hooks on its model
        with copy.lock, torch.no_grad():
            handle = copy.model.register_forward_hook(lambda *a: None)
            holding.set()
            release.wait(timeout=60)
            handle.remove()

    worker = threading.Thread(target=long_section)
    worker.start()
    try:
        assert holding.wait(timeout=30)
        result = trace(shared, "a fine film")  # completes while the replica's lock is still held
        assert not release.is_set() and result.predicted_label in shared.label_names
    finally:
        release.set()
        worker.join()
