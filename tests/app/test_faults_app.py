"""Faults while serving: a model folder deleted while the app has it loaded, a damaged cache file, a session that
stops mid-computation. Each gives a clear message or a recomputation, never a crash or a held lock."""

from __future__ import annotations

import shutil
import threading

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def open_app(model: str, text: str) -> AppTest:
    """The app run once with `model` and `text` in its link."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["model"] = model
    app.query_params["text"] = text
    return app.run()


def test_a_model_folder_deleted_while_loaded_gives_a_clear_message_on_the_next_load(checkpoint, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(checkpoint("ours"), folder)
    app = open_app(str(folder), "a fine film")
    assert not app.exception and not app.error and app.get("plotly_chart")
    shutil.rmtree(folder)
    app.text_area(key="text").set_value("another fine film").run()
    assert not app.exception
    assert any("Model folder not found" in e.value for e in app.error)


def test_a_model_folder_trained_again_in_place_is_answered_with_its_new_weights(tokenizer, tmp_path):
    """The model reloaded, but results kept by model name (traces, attributions, ablation, patching, What-if's
    head change and searches) were served from the old weights, to every session, for up to an hour."""
    import numpy as np

    from explainer.capture.tracing import trace
    from explainer.causal import ablate_heads
    from explainer.counterfactual import find_counterfactuals
    from explainer.ui import caches
    from explainer.ui import causal as causal_ui
    from explainer.ui import whatif as whatif_ui
    from tests.conftest import CORPUS, build_model, save_checkpoint

    folder = tmp_path / "model"
    save_checkpoint(build_model("bert", seed=0), tokenizer, folder)
    name, text, edited = str(folder), CORPUS[0], CORPUS[1]

    def asked() -> tuple:
        version = caches.model_version(name)
        return (caches.get_trace(name, text), causal_ui.get_ablation(name, text, None, "zero"),
                whatif_ui.get_head_change(name, text, edited, version),
                whatif_ui.get_counterfactuals(name, text, whatif_ui.ALL), version)

    before = asked()
    save_checkpoint(build_model("bert", seed=1), tokenizer, folder)  # trained again into the same folder
    new = caches.get_bundle(name)
    after = asked()
    assert after[-1] == new.folder_stamp != before[-1]
    assert np.allclose(after[0].probabilities, trace(new, text).probabilities)
    assert not np.allclose(after[0].probabilities, before[0].probabilities)
    assert np.allclose(after[1].baseline_logit, ablate_heads(new, text, mode="zero").baseline_logit)
    assert not np.allclose(after[2], before[2])
    fresh = find_counterfactuals(new, text, methods=whatif_ui.methods_of(whatif_ui.ALL))
    assert after[3].original.probabilities == fresh.original.probabilities


def test_a_demo_s_model_trained_again_in_place_is_answered_with_its_new_weights(tokenizer, tmp_path, monkeypatch):
    """In demo mode pages key results by the offered name, while the session loads the model by its folder: the
    version kept for the offered name stayed the old weights'."""
    import numpy as np

    from explainer.capture.tracing import trace
    from explainer.serving.demo import load_demo_config
    from explainer.ui import caches
    from tests.conftest import CORPUS, build_model, save_checkpoint

    save_checkpoint(build_model("bert", seed=0), tokenizer, tmp_path / "model")
    (tmp_path / "demo.toml").write_text('[[models]]\nname = "Offered model"\npath = "model"\n')
    demo = load_demo_config(tmp_path / "demo.toml")
    monkeypatch.setattr(caches, "active_demo", lambda: demo)
    target = demo.offered("Offered model").target
    caches.get_bundle(target)  # as the session loads it
    before = caches.get_trace("Offered model", CORPUS[0])  # as a page asks by the bundle's (offered) name
    save_checkpoint(build_model("bert", seed=1), tokenizer, tmp_path / "model")
    new = caches.get_bundle(target)
    after = caches.get_trace("Offered model", CORPUS[0])
    assert np.allclose(after.probabilities, trace(new, CORPUS[0]).probabilities)
    assert not np.allclose(after.probabilities, before.probabilities)


def test_a_crafted_model_name_in_a_link_is_shown_as_typed_not_as_a_link():
    app = open_app("**bold** [click](http://example.com)", "Great film")
    assert not app.exception
    shown = " ".join(e.value for e in app.error)
    assert "\\*\\*bold\\*\\* \\[click\\](`http://example.com`)" in shown  # markdown draws it literally


def test_a_crafted_model_folder_s_name_is_shown_as_typed_in_the_overview(checkpoint, tmp_path):
    """The Overview's caption under the attention map drew the model's folder path as markdown."""
    folder = tmp_path / "**bold** [click](evil.html)"
    shutil.copytree(checkpoint("bert"), folder)
    app = open_app(str(folder), "Great film")
    assert not app.exception and not app.error
    captions = [c.value for c in app.caption if "tokens ·" in c.value]
    assert len(captions) == 1 and "\\*\\*bold\\*\\* \\[click\\](evil.html)" in captions[0], captions


def test_a_run_stopped_inside_the_model_leaves_no_lock_held(bundle):
    """What Streamlit does when a tab closes or the input changes mid-run: an exception raised while the model runs,
    here from a hook inside it during integrated gradients' gradient passes, with the model's lock held. Another
    thread (the next session) then gets the lock and its run completes."""
    import torch

    from explainer.attribution.attributing import attribute
    from explainer.capture.tracing import trace

    ours = bundle("ours")

    class Stopped(Exception):
        pass

    held: list[bool] = []

    def taken_elsewhere() -> None:  # the lock is reentrant: only another thread sees it held
        got = ours.lock.acquire(blocking=False)
        held.append(not got)
        if got:
            ours.lock.release()

    def stop(module, inputs, output):
        if not torch.is_grad_enabled():  # the prediction attribute() reads first, under its own lock
            return
        probe = threading.Thread(target=taken_elsewhere)  # the stop comes while attribute() holds the lock
        probe.start()
        probe.join()
        raise Stopped

    layer = next(m for m in ours.model.modules() if isinstance(m, torch.nn.Linear))
    hook = layer.register_forward_hook(stop)
    try:
        with pytest.raises(Stopped):
            attribute(ours, "a fine film", "integrated_gradients")
    finally:
        hook.remove()
    assert held == [True]
    results: list[object] = []

    def next_session() -> None:
        if ours.lock.acquire(timeout=10):
            ours.lock.release()
            results.append(trace(ours, "a fine film").predicted_label)

    other = threading.Thread(target=next_session)
    other.start()
    other.join(timeout=60)
    assert results and results[0] in ours.label_names


def test_a_changed_input_stops_the_graph_between_chunks_and_leaves_nothing_behind(checkpoint):
    """Streamlit stops a run whose input changed by raising from its next call, here the graph's progress bar:
    the graph stops at that chunk, nothing half-done is cached, the background model's lock is free for the next
    session, and asking again computes the whole graph."""
    import pytest

    from explainer.ui import caches

    name, text = str(checkpoint("bert")), "a fine film indeed"

    class Stopped(Exception):
        pass

    calls: list[int] = []

    def stop(done: int, planned: int) -> None:
        calls.append(done)
        raise Stopped

    with pytest.raises(Stopped):
        caches.get_attention_attribution(name, text, None, 16, progress=stop)
    assert len(calls) == 1
    key = ("attention_attribution", name, text, None, 16, (caches.model_version(name),))
    assert caches.RESULTS.get(key) == (False, None)
    with caches.background():
        background = caches.model_for(name)
    free: list[bool] = []

    def other_session() -> None:
        if background.lock.acquire(timeout=10):
            background.lock.release()
            free.append(True)

    thread = threading.Thread(target=other_session)
    thread.start()
    thread.join()
    assert free == [True]
    whole = caches.get_attention_attribution(name, text, None, 16)
    assert whole.relative_deltas.shape[0] == whole.scores.shape[0]
    assert caches.RESULTS.get(key)[0]  # the key the stopped run left empty is this result's


def test_results_a_job_nests_are_kept_under_the_versions_it_was_asked_with(checkpoint, monkeypatch):
    """A queued job's nested results read the model's version when they ran: a reload by another session while
    the job waited put results of the old copy under the new weights' key."""
    from explainer.attribution.options import AttributionOptions
    from explainer.ui import caches, work

    name, text = str(checkpoint("bert")), "a fine film indeed"
    asked = caches.model_version(name)
    real = caches.model_for

    def meanwhile_reloaded(called: str):
        caches._VERSIONS[name] = "weights loaded meanwhile"  # another session's get_bundle, once the job is asked
        return real(called)

    monkeypatch.setattr(caches, "model_for", meanwhile_reloaded)
    monkeypatch.setattr(work, "session_id", lambda: "a session")  # queued, as in a script run
    options = AttributionOptions()
    try:
        with caches.background():
            caches.get_method_faithfulness(name, text, "saliency", None, options)
    finally:
        caches._VERSIONS[name] = asked
    assert caches.RESULTS.get(("attribution", name, text, "saliency", None, options, (asked,)))[0]
    assert not caches.RESULTS.get(("attribution", name, text, "saliency", None, options,
                                   ("weights loaded meanwhile",)))[0]
