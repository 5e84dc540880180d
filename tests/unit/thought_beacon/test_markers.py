"""Thought markers: forcing through trace(), the marker dictionary (checked against per-text traces), its cache."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
import torch

from explainer.capture.tracing import trace
from explainer.data.labelled import read_dataset
from explainer.loading.bundle import load_model
from explainer.models import MarkerForce
from explainer.thought_beacon.interventions import compare, marker_forces
from explainer.thought_beacon.marker_dictionary import (
    DictionaryOptions,
    NoMarkersError,
    build_dictionary,
    cached_dictionary,
    effect_matrix,
    example_context,
    load_cached_dictionary,
    to_frame,
)
from tests.conftest import CORPUS, LAYERS, MARKERS, build_model, save_checkpoint

TEXT = "The jokes land, the music soars, and the cast clearly had fun."
TEXTS = CORPUS[:12]


def marker_model(**overrides):
    """The tiny ThoughtBeacon model with W_m moved off its zero init (as training does), so markers matter."""
    model = build_model("ours", **overrides)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in model.layers:
            layer.marker_proj.weight.copy_(torch.randn(layer.marker_proj.weight.shape, generator=generator))
    return model


def saved(model, tokenizer, folder):
    return load_model(save_checkpoint(model, tokenizer, folder), device="cpu")


@pytest.fixture(scope="module")
def ours_bundle(tmp_path_factory, tokenizer):
    return saved(marker_model(), tokenizer, tmp_path_factory.mktemp("markers") / "ours")


@pytest.fixture(scope="module")
def one_hot_bundle(tmp_path_factory, tokenizer):
    """Routing exactly one-hot: temperature 1e-4 saturates the softmax."""
    return saved(marker_model(marker_temperature=1e-4), tokenizer, tmp_path_factory.mktemp("one-hot") / "ours")


def assert_traces_identical(a, b) -> None:
    for name in ("logits", "probabilities", "attentions", "hidden_states", "thought_markers", "beacon_gates",
                 "marker_contributions", "mlp_update_ratio", "layer_logits"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


# --- forcing --------------------------------------------------------------------------------------------------


def test_forcing_the_marker_already_chosen_changes_nothing(one_hot_bundle):
    free = trace(one_hot_bundle, TEXT)
    # [layers, T]: exactly one-hot (max 1.0 alone is not enough: 1.0 + 1e-20 rounds to 1.0); a near-tie stays soft
    one_hot = (free.thought_markers.max(-1) == 1.0) & ((free.thought_markers == 0).sum(-1) == MARKERS - 1)
    assert one_hot.mean() > 0.9
    path = free.marker_path
    slots = [(layer, p) for layer in range(LAYERS) for p in range(8) if one_hot[layer, p]]
    forces = [MarkerForce(layer, [p], int(path[layer, p])) for layer, p in slots]
    assert len(forces) >= 10
    forced = trace(one_hot_bundle, TEXT, forced_markers=forces)
    assert_traces_identical(free, forced)
    other = [MarkerForce(f.layer, f.positions, (f.marker + 1) % MARKERS) for f in forces]
    assert not np.allclose(trace(one_hot_bundle, TEXT, forced_markers=other).logits, free.logits, atol=1e-4)
    assert forced.forced_markers == tuple(MarkerForce(f.layer, tuple(f.positions), f.marker) for f in forces)


def test_forcing_changes_routing_and_output_exactly_as_requested(ours_bundle, tokenizer, tmp_path):
    layer, marker = 1, 3
    free = trace(ours_bundle, TEXT)
    forced = trace(ours_bundle, TEXT, forced_markers=marker_forces([layer], None, marker))
    # routing: one-hot at the forced layer, untouched before it; everything before the forced layer identical
    assert np.array_equal(forced.thought_markers[layer], np.eye(MARKERS, dtype=np.float32)[[marker] * len(free.tokens)])
    assert np.array_equal(forced.thought_markers[:layer], free.thought_markers[:layer])
    assert np.array_equal(forced.hidden_states[: layer + 1], free.hidden_states[: layer + 1])
    assert (forced.marker_path[layer] == marker).all()
    # output: the same as a model whose router at that layer always picks `marker` (an independent route)
    reference = marker_model()
    with torch.no_grad():
        router = reference.layers[layer].router
        router.weight.zero_()
        router.bias.copy_(torch.nn.functional.one_hot(torch.tensor(marker), MARKERS).float() * 1e4)
    rerouted = trace(saved(reference, tokenizer, tmp_path / "rerouted"), TEXT)
    np.testing.assert_allclose(forced.logits, rerouted.logits, atol=1e-6)
    np.testing.assert_allclose(forced.hidden_states, rerouted.hidden_states, atol=1e-5)
    assert not np.allclose(forced.logits, free.logits, atol=1e-4)  # and it did move the output
    forces = marker_forces([layer], None, marker)
    change = compare(free, forced, forces)
    downstream = int((free.marker_path[layer + 1 :] != forced.marker_path[layer + 1 :]).sum())
    assert change.changed_markers == int((free.marker_path[layer] != marker).sum()) + downstream
    assert change.changed_markers_elsewhere == downstream  # the forced slots are told apart from their effect
    assert compare(free, forced).changed_markers_elsewhere == change.changed_markers  # no forces named: all count
    np.testing.assert_allclose(change.probability_shift, forced.probabilities - free.probabilities)


def test_marker_forces_builds_one_force_per_layer_and_empty_positions_mean_all():
    assert marker_forces([1, 0, 1], [], 2) == (MarkerForce(0, None, 2), MarkerForce(1, None, 2))
    assert marker_forces([0], [5, 3, 5], 1) == (MarkerForce(0, (3, 5), 1),)


# --- the dictionary -------------------------------------------------------------------------------------------


def test_dictionary_matches_per_text_traces(ours_bundle):
    options = DictionaryOptions(top_tokens=5, examples=2, batch_size=5)  # batches of 5: padding in play
    progress: list[tuple[int, int]] = []
    result = build_dictionary(ours_bundle, TEXTS, options, progress=lambda d, t: progress.append((d, t)))
    traces = [trace(ours_bundle, text) for text in TEXTS]
    total = len(TEXTS) * (1 + LAYERS * MARKERS)
    assert progress[-1] == (total, total) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    batches = -(-len(TEXTS) // 5)
    assert len(progress) == batches * (1 + LAYERS)  # after each batch's free pass and each layer of forced ones
    assert result["slots"] == sum(len(t.tokens) for t in traces)
    assert (result["layers"], result["markers"], result["texts"]) == (LAYERS, MARKERS, len(TEXTS))
    entries = {(e["layer"], e["marker"]): e for e in result["entries"]}
    assert len(entries) == LAYERS * MARKERS
    for layer in range(LAYERS):
        paths = np.concatenate([t.marker_path[layer] for t in traces])
        probs = np.concatenate([t.thought_markers[layer] for t in traces])  # [slots, K]
        tokens = [tok for t in traces for tok in t.tokens]
        assert sum(entries[layer, k]["share"] for k in range(MARKERS)) == pytest.approx(1.0)
        for k in range(MARKERS):
            entry = entries[layer, k]
            chosen = paths == k
            assert entry["count"] == int(chosen.sum())
            if chosen.any():
                assert entry["mean_prob"] == pytest.approx(float(probs[chosen, k].mean()), abs=1e-5)
                expected = pd.Series([tok for tok, c in zip(tokens, chosen) if c]).value_counts()
                top = entry["top_tokens"][0]
                assert top["count"] == expected.iloc[0] and expected[top["token"]] == top["count"]
            # the first example is the slot with the highest probability of k anywhere in the data
            best = entry["examples"][0]
            assert best["prob"] == pytest.approx(float(probs[:, k].max()), abs=1e-5)
            hit = traces[best["text_index"]]
            assert hit.thought_markers[layer, best["position"], k] == pytest.approx(best["prob"], abs=1e-5)
            start, end = hit.offsets[best["position"]]
            if end > start:
                assert best["token"] == hit.text[start:end]
                assert hit.text.startswith(best["left"] + best["token"] + best["right"], start - len(best["left"]))


def test_direct_and_forced_effects_match_their_definitions(ours_bundle):
    result = build_dictionary(ours_bundle, TEXTS, DictionaryOptions(batch_size=4))
    model = ours_bundle.model
    layer, marker, label = 1, 2, "pos"
    traces = [trace(ours_bundle, text) for text in TEXTS]
    with torch.no_grad():
        write = model.layers[layer].marker_proj(model.markers[marker])  # W_m,l M_k, [d]
        deltas = []
        for t in traces:
            final = torch.from_numpy(np.array(t.hidden_states[-1]))  # [T, d]
            deltas.append((model.classify(final + write * (torch.arange(len(final)) == 0)[:, None]) -
                           model.classify(final))[1].item())
    direct = effect_matrix(result, label)
    assert direct.shape == (LAYERS, MARKERS)
    assert direct[layer, marker] == pytest.approx(np.mean(deltas), abs=1e-5)
    forced = [trace(ours_bundle, text, forced_markers=[MarkerForce(layer, None, marker)]) for text in TEXTS]
    expected = np.mean([f.logits[1] - t.logits[1] for f, t in zip(forced, traces)])
    assert effect_matrix(result, label, "forced_effect")[layer, marker] == pytest.approx(expected, abs=1e-5)
    assert abs(expected) > 1e-4  # forcing really moves the logit on this tiny model


def test_dictionary_without_forced_effect_and_on_a_model_without_markers(ours_bundle, bundle):
    result = build_dictionary(ours_bundle, TEXTS[:3], DictionaryOptions(forced_effect=False))
    assert effect_matrix(result, "pos", "forced_effect") is None
    assert "forced_effect_pos" not in to_frame(result).columns
    with pytest.raises(NoMarkersError, match="no thought markers"):
        build_dictionary(bundle("baseline"), TEXTS[:3])


def labelled_csv(path, texts=TEXTS):
    pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]}).to_csv(path, index=False)
    return path


def test_dictionary_is_cached_on_disk(ours_bundle, tmp_path):
    data = read_dataset(labelled_csv(tmp_path / "d.csv"), label_names=ours_bundle.label_names)
    options = DictionaryOptions(forced_effect=False)
    assert load_cached_dictionary(ours_bundle, data, options) is None
    first, was_cached = cached_dictionary(ours_bundle, data, options)
    assert not was_cached
    calls = []
    again, was_cached = cached_dictionary(ours_bundle, data, options, progress=lambda d, t: calls.append(d))
    assert was_cached and calls == [] and again == first == load_cached_dictionary(ours_bundle, data, options)
    # the batch size shapes no number: a CLI run with --batch-size was never found by the page
    assert load_cached_dictionary(ours_bundle, data, DictionaryOptions(forced_effect=False, batch_size=5)) == first
    changed = read_dataset(labelled_csv(tmp_path / "d.csv", TEXTS[:5]), label_names=ours_bundle.label_names)
    assert load_cached_dictionary(ours_bundle, changed, options) is None  # new content, new key


def test_the_dictionary_csv_makes_formula_like_cells_inert(ours_bundle, tmp_path):
    """A data set's text opening like a formula reached the examples column of the page's download and the CLI's
    CSV as it was ("=HYPERLINK(...) film"), as could a token "=" opening a top_tokens cell."""
    import io

    from explainer.thought_beacon.marker_dictionary import dictionary_csv, write_outputs

    texts = ['=HYPERLINK("http://x") film is fine', "the film is fine"]
    result = build_dictionary(ours_bundle, texts, DictionaryOptions(forced_effect=False, examples=200))
    _, csv_path = write_outputs(result, tmp_path / "out")
    assert csv_path.read_bytes() == dictionary_csv(result)
    table = pd.read_csv(io.BytesIO(dictionary_csv(result)))
    cells = [str(cell) for column in ("examples", "top_tokens") for cell in table[column].dropna()]
    assert not [cell for cell in cells if cell[:1] in "=+-@"], cells
    assert any(cell.startswith("'=") for cell in cells)  # the formula, made inert, still there


def test_copies_of_one_text_list_a_context_once_from_the_first_copy(ours_bundle):
    """The same text three times routes every token alike: each context was listed three times (once per copy), and
    on equal probabilities the earlier copy must be the one listed, as every other ranked list here orders ties."""
    text = "The jokes land and the cast had fun."
    result = build_dictionary(ours_bundle, [text, text, text], DictionaryOptions(batch_size=2, forced_effect=False))
    listed = 0
    for entry in result["entries"]:
        positions = [example["position"] for example in entry["examples"]]
        assert len(positions) == len(set(positions)), entry  # one text: no context twice
        assert all(example["text_index"] == 0 for example in entry["examples"]), entry  # the first copy
        listed += len(positions)
    assert listed > 0
    # the CSV gives each context its routing probability, as the page does (a barely routed one read as routed)
    first = next(entry for entry in result["entries"] if entry["examples"])
    cell = to_frame({**result, "entries": [first]})["examples"][0]
    assert cell.startswith(f"{example_context(first['examples'][0])} (p {first['examples'][0]['prob']:.3g})")


@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_a_copy_of_a_text_takes_no_other_texts_place_among_the_examples(ours_bundle, batch_size):
    """Candidates were kept per row, examples picked per text: a copy's slots took a place, were then dropped as
    the same text, and a worse context was shown (p 1e-06 where another text's 0.97 was due). With a copy the
    examples are those of the texts without it, whatever the batches."""
    texts = [*CORPUS[:6], CORPUS[0], CORPUS[2]]
    options = DictionaryOptions(batch_size=batch_size, forced_effect=False, examples=3)

    def examples(rows: list[str]) -> list[list[tuple]]:
        result = build_dictionary(ours_bundle, rows, options)
        return [[(rows[e["text_index"]], e["position"], round(e["prob"], 6)) for e in entry["examples"]]
                for entry in result["entries"]]

    assert examples(texts) == examples(texts[:6])


@pytest.mark.parametrize("batch_size", [1, 2, 16])
@pytest.mark.parametrize("distinct, copies, count", [(1, 3, 3), (1, 2, 3), (2, 3, 5), (3, 3, 8)])
def test_copies_leave_a_text_all_its_own_examples(ours_bundle, batch_size, distinct, copies, count):
    """With fewer texts than examples, the rest come from the same texts: a copy's slot, the same context, took one
    of its text's places and was then shown once, so one text three times gave one example where alone it gave
    three."""
    options = DictionaryOptions(batch_size=batch_size, forced_effect=False, examples=count)

    def examples(rows: list[str]) -> list[list[tuple]]:
        result = build_dictionary(ours_bundle, rows, options)
        return [[(rows[e["text_index"]], e["position"], round(e["prob"], 5)) for e in entry["examples"]]
                for entry in result["entries"]]

    alone = examples(list(CORPUS[:distinct]))
    assert examples([text for text in CORPUS[:distinct] for _ in range(copies)]) == alone
    assert sum(map(len, alone)) > 0


@pytest.mark.parametrize("batch_size", [1, 16])
def test_examples_come_from_distinct_texts_when_one_long_text_ties_them_all(one_hot_bundle, batch_size):
    """Routing saturates (probabilities of exactly 1 are common at low temperature) and ties go to the earlier
    text: a long text first held every kept candidate, so a marker chosen in many texts showed three examples of
    that one text. One per text whenever the marker is chosen in texts enough."""
    long_text = " ".join(["The jokes land and the cast had fun."] * 6)
    texts = [long_text, *CORPUS[:10]]
    options = DictionaryOptions(batch_size=batch_size, forced_effect=False, examples=3)
    result = build_dictionary(one_hot_bundle, texts, options)
    chosen_in = {}  # (layer, marker) -> texts where the marker is chosen at probability 1
    for index, text in enumerate(texts):
        routing = trace(one_hot_bundle, text).thought_markers  # [layers, T, K]
        for layer, marker in {(int(at), int(m)) for at, m in zip(*np.nonzero(routing == 1.0)[::2])}:
            chosen_in.setdefault((layer, marker), set()).add(index)
    checked = 0
    for entry in result["entries"]:
        where = chosen_in.get((entry["layer"], entry["marker"]), set())
        if len(where) >= 3 and 0 in where:
            shown = [example["text_index"] for example in entry["examples"]]
            assert len(set(shown)) == 3 and set(shown) <= where, (entry["layer"], entry["marker"], shown)
            checked += 1
    assert checked > 0


def test_a_truncated_texts_sep_example_shows_the_words_it_follows_not_the_unread_end(ours_bundle):
    """A [SEP] has no span of its own: its left context is where the model's reading of the text ends. For a text
    longer than the model reads, that is not the text's end (it showed 'OF THE TEXT IS HERE' [SEP], unread)."""
    long_text = "the film is fine . " * 40 + "THE TRUE END OF THE TEXT IS HERE"
    result = build_dictionary(ours_bundle, [long_text], DictionaryOptions(forced_effect=False, examples=200,
                                                                          context_chars=20))
    read = trace(ours_bundle, long_text)
    assert read.truncated
    sep = len(read.tokens) - 1
    read_end = int(read.offsets[:sep, 1].max())
    shown = [example for entry in result["entries"] for example in entry["examples"] if example["position"] == sep]
    assert shown  # every slot is some marker's example when 200 are kept per marker
    for example in shown:
        # the 20 characters before, from the first word that starts in them (a context starts at a word)
        left = example["left"]
        assert long_text[:read_end].endswith(left) and 10 < len(left) <= 20 and example["right"] == ""
        assert long_text[read_end - len(left) - 1] == " "
        assert "END" not in example["left"]
        # the card's ellipses: cut on the left, and the text goes on past what the model read
        card = example_context(example, ellipsis=True)
        assert card.startswith("…") and card.endswith("…")


def test_a_cls_or_sep_example_is_set_apart_from_the_words_it_stands_beside(ours_bundle):
    """[CLS] ran into the text's first word in the card and the CSV ('[CLS]the film'); a word's own context keeps
    its exact characters (a subword must not gain a space)."""
    result = build_dictionary(ours_bundle, ["the film is fine"], DictionaryOptions(forced_effect=False, examples=200))
    shown = {e["position"]: e for entry in result["entries"] for e in entry["examples"]}
    cls, word, sep = shown[0], shown[1], shown[max(shown)]
    assert cls["special"] and sep["special"] and not word["special"]
    assert example_context(cls) == "[CLS] the film is fine"  # not bracketed twice ("[[CLS]]")
    # a text's own token that looks bracketed ([UNK] of an unknown word, a literal "[x]") keeps its mark
    assert example_context({**word, "token": "[UNK]"}) == "[[UNK]] film is fine"
    assert example_context(sep) == "the film is fine [SEP]"
    assert example_context(word) == "[the] film is fine"
    # the whole text fits: the card put "…" on both sides of every context, as if cut
    assert example_context(word, ellipsis=True) == "[the] film is fine" and not any(word["cut"] + sep["cut"])
    assert example_context({k: v for k, v in word.items() if k != "cut"}, ellipsis=True) == "…[the] film is fine…"
    assert example_context({**cls, "right": "<b>"}, "<mark>{}</mark>", html.escape) == "<mark>[CLS]</mark> &lt;b&gt;"
    assert "[CLS] the film is fine" in to_frame(result)["examples"].str.cat(sep=" | ")


def test_a_context_is_cut_only_where_text_is_left_out(ours_bundle):
    """SST-2's sentences end in a space: the card put "…" after the real end of the text ("fine [SEP]…")."""
    options = DictionaryOptions(forced_effect=False, examples=200, context_chars=14)
    result = build_dictionary(ours_bundle, ["the film is fine "], options)
    shown = {e["position"]: e for entry in result["entries"] for e in entry["examples"]}
    assert shown[max(shown)]["cut"] == [True, False]  # [SEP]: 14 characters before it, "th" left out, " " after
    assert shown[0]["cut"] == [False, True] and shown[1]["cut"] == [False, False]  # "the": all of the rest fits


def test_a_context_starts_and_ends_at_words(ours_bundle):
    """The dictionary's CSV read "tched it with my brother…" and "…ssive.": a context cut mid-word."""
    text = "we all watched it with my brother and found it quite impressive today"
    options = DictionaryOptions(forced_effect=False, examples=200, context_chars=12)
    result = build_dictionary(ours_bundle, [text], options)
    shown = 0
    for entry in result["entries"]:
        for example in entry["examples"]:
            if example["special"]:
                continue
            context = example["left"] + example["token"] + example["right"]
            assert f" {context.strip()} " in f" {text} ", example  # its outer words whole (the token: a piece)
            assert len(example["left"]) <= 12 and len(example["right"]) <= 12
            shown += 1
    assert shown > 20


def test_the_direct_effect_is_qualified_only_where_the_write_has_no_direct_path(ours_bundle):
    """Pre-LayerNorm from-scratch model: the write's path to the classifier is direct, no note. A post-LayerNorm
    retrofit (its blocks normalise after every residual add) gets a note saying to read the sign, not the size."""
    from explainer.models import ThoughtBeaconBertConfig, ThoughtBeaconBertForSequenceClassification
    from explainer.thought_beacon.marker_dictionary import direct_effect_note
    from tests.conftest import tiny_config

    assert direct_effect_note(ours_bundle.model) is None
    config = ThoughtBeaconBertConfig(**tiny_config("bert").to_dict(), num_thought_markers=MARKERS)
    assert "read its sign, not its size" in direct_effect_note(ThoughtBeaconBertForSequenceClassification(config))


@pytest.mark.parametrize("written", ["{}", "[1, 2]", '{"layers": 2, "markers": 2, "entries": [{"layer": 0}]}'])
def test_cached_results_of_another_shape_are_computed_again(ours_bundle, tmp_path, monkeypatch, written):
    """A cached sweep or dictionary that is JSON of another shape was served (`{}`: a sweep of no points) or
    crashed the Beacons and Markers pages and the commands (KeyError 'entries') on every later run."""
    from explainer.data import disk_cache
    from explainer.thought_beacon.beacons import cached_sweep, load_cached_sweep

    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))
    data = read_dataset(labelled_csv(tmp_path / "d.csv"), label_names=ours_bundle.label_names)
    options = DictionaryOptions(forced_effect=False)
    for namespace, run, load in (
        ("marker_dictionary", lambda: cached_dictionary(ours_bundle, data, options),
         lambda: load_cached_dictionary(ours_bundle, data, options)),
        ("tau_sweep", lambda: cached_sweep(ours_bundle, data, taus=[0.0, 1.0]),
         lambda: load_cached_sweep(ours_bundle, data, [0.0, 1.0])),
    ):
        first, _ = run()
        (entry,) = (tmp_path / "cache").rglob(f"{namespace}/*.json")
        entry.write_bytes(disk_cache._signed(written.encode()))  # signed: the shape check must refuse it
        assert load() is None, namespace  # a miss, not the damaged value
        again, was_cached = run()
        assert not was_cached and again == first, namespace
        assert run() == (first, True)  # stored whole again
