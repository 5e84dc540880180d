"""Embeddings from the prediction pass: the readout and mean vectors equal what trace() captures for each text,
they come from the same forward pass as the predictions (one per batch), the float16 store reads back in row
order whatever order its slots were written in, and a second pass reads everything from disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer import load_model, trace
from explainer.dataset_map.embeddings import (
    BatchEmbeddings,
    EmbeddingStore,
    MapError,
    check_readout,
    embed_dataset,
    embed_texts,
    open_store,
    store_folder,
)
from explainer.dataset_map.maps import MapOptions, build_map
from explainer.evaluation.predict import predict
from explainer.evaluation.prediction_cache import load_cached
from explainer.families import family_of
from tests.conftest import CORPUS

TEXTS = list(CORPUS[:4])


@pytest.mark.parametrize("family", ["bert", "gpt2", "ours", "roberta"])
def test_vectors_match_the_traced_hidden_states(bundle, family):
    b = bundle(family)
    batch = embed_texts(b, TEXTS)
    probabilities = predict(b, TEXTS).probabilities
    np.testing.assert_allclose(batch.probabilities, probabilities, atol=1e-5)
    for i, text in enumerate(TEXTS):
        t = trace(b, text)
        hidden = t.hidden_states  # [layers+1, T, d]
        position = family_of(b.model).readout_position(hidden.shape[1])
        np.testing.assert_allclose(batch.readout[:, i].astype(np.float32), hidden[:, position], rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(batch.mean[:, i].astype(np.float32), hidden.mean(axis=1), rtol=2e-3, atol=2e-3)
    assert batch.readout.dtype == np.float16 and batch.readout.shape[:2] == (3, len(TEXTS))
    assert family != "gpt2" or family_of(b.model).readout == "last"


def test_dominant_marker_of_a_thought_beacon_model(ours_bundle, bert_bundle):
    markers = embed_texts(ours_bundle, TEXTS).markers
    for i, text in enumerate(TEXTS):
        routing = trace(ours_bundle, text).thought_markers  # [layers, T, K]
        counts = np.bincount(routing.argmax(-1).ravel(), minlength=routing.shape[-1])
        assert markers[i] == counts.argmax()
    assert (embed_texts(bert_bundle, TEXTS).markers == -1).all()


def test_store_reads_back_in_row_order_from_blocks_written_in_any_order(tmp_path):
    rng = np.random.default_rng(0)
    layers, rows, hidden = 3, 10, 4
    readout = rng.normal(size=(layers, rows, hidden)).astype(np.float16)
    mean = rng.normal(size=(layers, rows, hidden)).astype(np.float16)
    store = EmbeddingStore.create(tmp_path / "store", rows, layers, hidden)
    order = rng.permutation(rows)
    assert not store.is_complete()
    for first in (6, 0, 3):  # blocks of slots, written out of order, as shards would
        block = order[first : first + (3 if first < 6 else 4)]
        store.write(
            first,
            block,
            BatchEmbeddings(
                np.zeros((len(block), 2), np.float32),
                readout[:, block],
                mean[:, block],
                np.full(len(block), 2, np.int16),
            ),
        )
    again = EmbeddingStore(tmp_path / "store")
    assert again.is_complete()
    for layer in range(layers):
        np.testing.assert_array_equal(again.layer(layer, "readout"), readout[layer].astype(np.float32))
        np.testing.assert_array_equal(again.layer(layer, "mean"), mean[layer].astype(np.float32))
    assert (again.markers() == 2).all()
    with pytest.raises(MapError, match="layers 0-2"):
        again.layer(3)
    with pytest.raises(ValueError, match="outside"):
        store.write(
            9,
            np.array([1, 2]),
            BatchEmbeddings(np.zeros((2, 2), np.float32), readout[:, :2], mean[:, :2], np.zeros(2, np.int16)),
        )


@pytest.mark.parametrize("meta", ["[1]", "null", "3", '"x"'])
def test_a_store_whose_meta_is_json_but_no_object_is_damaged(tmp_path, meta):
    # valid JSON that is no object raised AttributeError, which open_store let through: every later map crashed
    folder = tmp_path / "store"
    EmbeddingStore.create(folder, 2, 1, 3)
    (folder / "meta.json").write_text(meta, encoding="utf-8")
    assert open_store(folder) is None  # damaged: recomputed


def test_one_forward_pass_per_batch_then_the_cache(checkpoint, corpus_data, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    private = load_model(checkpoint("bert"), device="cpu")  # a private copy: the test hooks its forward
    calls: list[int] = []
    with private.lock:
        handle = private.model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(1), with_kwargs=True)
    try:
        predictions, store, cached = embed_dataset(private, corpus_data, batch_size=8)
        assert not cached and len(calls) == -(-len(corpus_data) // 8)  # one pass per batch, no second pass
        alone = predict(private, corpus_data.texts, batch_size=8)
        np.testing.assert_allclose(predictions.probabilities, alone.probabilities, atol=1e-6)
        assert load_cached(private, corpus_data) is not None  # the same pass filled the prediction cache
        calls.clear()
        again, store_again, cached = embed_dataset(private, corpus_data, batch_size=8)
        assert cached and calls == []
        np.testing.assert_array_equal(store_again.layer(2), store.layer(2))
        assert store.folder == store_folder(private, corpus_data, None) and store.folder.parent.name == "embeddings"
        direct = embed_texts(private, list(corpus_data.texts[:4]))
        np.testing.assert_allclose(store.layer(2)[:4], direct.readout[2].astype(np.float32), atol=2e-3)
    finally:
        with private.lock:
            handle.remove()
    assert not list(store.folder.parent.glob("*.partial-*"))


def test_a_model_without_a_readout_convention_has_mean_vectors_only(
    unlisted_folder, corpus_data, tmp_path, monkeypatch
):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    unlisted = load_model(unlisted_folder, device="cpu")
    with pytest.raises(MapError, match="no readout convention.*--pooling mean"):
        check_readout(unlisted)
    with pytest.raises(MapError, match=f"'{unlisted_folder.name}'"):
        build_map(unlisted, corpus_data, MapOptions(pooling="readout"))
    batch = embed_texts(unlisted, ["a film", "a much longer film"])
    assert np.isnan(batch.readout.astype(np.float32)).all()  # never a guessed position
    encoded = unlisted.tokenizer(["a film"], return_tensors="pt")
    with torch.no_grad():
        hidden = unlisted.model(**encoded, output_hidden_states=True).hidden_states
    expected = torch.stack([h[0].mean(dim=0) for h in hidden]).numpy()  # [layers+1, d]: every token, no padding
    np.testing.assert_allclose(batch.mean[:, 0].astype(np.float32), expected, atol=2e-3, rtol=2e-3)
    mapped = build_map(unlisted, corpus_data, MapOptions(pooling="mean", neighbours=3))
    assert len(mapped.frame) == len(corpus_data) and np.isfinite(mapped.frame[["x", "y"]].to_numpy()).all()


def test_float16_store_clips_instead_of_overflowing(bert_bundle):
    from explainer.dataset_map.embeddings import _half

    values = _half(torch.tensor([1e6, -1e6, 1.5]))
    assert np.isfinite(values).all() and values[0] == np.finfo(np.float16).max


def test_a_classifier_that_mean_pools_gets_mean_vectors_only(tokenizer, corpus_data, tmp_path, monkeypatch):
    """A ModernBERT fine-tune with classifier_pooling='mean' reads no single position: its "readout" vectors were
    its [CLS] state, which its head never reads, with no word (attribution already refused one position)."""
    from tests.conftest import build_model, save_checkpoint

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    folder = save_checkpoint(build_model("modernbert", classifier_pooling="mean"), tokenizer, tmp_path / "mean")
    pooled = load_model(folder, device="cpu")
    with pytest.raises(MapError, match="pools every position.*--pooling mean"):
        check_readout(pooled)
    with pytest.raises(MapError, match="pools every position"):
        build_map(pooled, corpus_data, MapOptions(pooling="readout"))
    batch = embed_texts(pooled, ["a film", "a much longer film"])
    assert np.isnan(batch.readout.astype(np.float32)).all()
    mapped = build_map(pooled, corpus_data, MapOptions(pooling="mean", neighbours=3))
    assert np.isfinite(mapped.frame[["x", "y"]].to_numpy()).all()


def test_two_builds_of_one_store_in_one_process_both_finish(checkpoint, corpus_data, tmp_path, monkeypatch):
    """The server's warm start and a visitor's first Map built the same store in two threads: they shared one
    partial folder, the second's clean start deleted the first's store mid-write, and that build failed with "the
    map keeps its vectors on disk, under ..., which cannot be written (No such file or directory)"."""
    import threading

    from explainer.data import disk_cache
    from explainer.dataset_map import embeddings

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    folder = store_folder(load_model(checkpoint("bert"), device="cpu"), corpus_data, None)
    first = disk_cache.partial_folder(folder)
    first.mkdir(parents=True)
    (first / "mean.npy").write_bytes(b"half written")
    second = disk_cache.partial_folder(folder)  # the other thread's, while the first writes
    assert second != first and (first / "mean.npy").read_bytes() == b"half written"
    assert disk_cache.PARTIAL.fullmatch(second.name)  # still a name the clean-up of killed runs reads
    first.joinpath("mean.npy").unlink()
    first.rmdir()

    bundle = load_model(checkpoint("bert"), device="cpu")
    both_named = threading.Barrier(2)
    real_predict = embeddings.predict

    def predict_once_both_started(*args, **kwargs):  # both builds have their partial folder before either writes
        both_named.wait(timeout=60)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(embeddings, "predict", predict_once_both_started)
    outcomes: list = [None, None]

    def build(slot: int) -> None:
        try:
            outcomes[slot] = embed_dataset(bundle, corpus_data, batch_size=4)[1]
        except Exception as error:  # noqa: BLE001  (the test reports it)
            outcomes[slot] = error

    threads = [threading.Thread(target=build, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(outcome, EmbeddingStore) for outcome in outcomes), outcomes
    np.testing.assert_array_equal(outcomes[0].layer(2), outcomes[1].layer(2))
    assert open_store(folder) is not None and not list(folder.parent.glob("*.partial-*"))


def test_a_store_rebuilt_because_its_predictions_are_gone_replaces_the_old_one(checkpoint, corpus_data, tmp_path,
                                                                              monkeypatch):
    """A whole-looking store is rebuilt on purpose when its predictions left the cache (demo mode's size limit):
    the fresh store must replace it, not be dropped for it (a store of zeros a crash left was kept, then blamed
    on the model)."""
    from explainer.evaluation import prediction_cache

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path))
    bundle = load_model(checkpoint("bert"), device="cpu")
    _, store, _ = embed_dataset(bundle, corpus_data, batch_size=8)
    fresh = store.layer(2).copy()
    readout = np.load(store.folder / "readout.npy", mmap_mode="r+")
    readout[:] = 0  # what a crash before the data reached the disk leaves: whole in form, zeros inside
    readout.flush()
    del readout
    prediction_cache.forget(bundle, corpus_data)
    _, again, cached = embed_dataset(bundle, corpus_data, batch_size=8)
    assert not cached
    np.testing.assert_array_equal(again.layer(2), fresh)
