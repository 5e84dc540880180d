"""The stakeholder report: every chosen page present, plotly.js inlined once and nothing fetched, user text
escaped, notes for pages a model lacks, clear errors for unknown pages and methods, and the size target."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote_plus, urlencode

import pytest

from explainer import load_model, trace
from explainer.capture.validation import truncation_sentence
from explainer.report import PAGES, ReportError, build_report
from explainer.report.linking import LINK_LEFT_OUT, link_model
from explainer.views import attribution as attribution_figures
from explainer.views.colours import STAND_IN
from tests.conftest import CORPUS

TEXT = 'Great <script>alert("x")</script> & <b>bold</b> film'


def test_every_page_is_there_and_user_text_is_escaped(bundle):
    # a folder model offered by name keeps its link (a bare folder's is left out: test_folder_paths_stay_out...)
    document = build_report(bundle("ours"), TEXT, PAGES, link="http://localhost:8501/?text=x&model=y", model_label="y")
    for page in PAGES:
        assert f'<h2 id="{page}">' in document
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in document
    assert '<script>alert("x")' not in document and "<b>bold</b>" not in document
    assert document.count("plotly.js v") <= 2 and document.count("<script") == 1 + document.count(
        'class="plotly-graph-div"')  # plotly.js once, then one small script per figure
    library_end = document.index("</script>")  # plotly.js itself names URLs in strings; the page around it must not
    around = document[:document.index("<script")] + document[library_end:]
    assert not re.search(r"(src|href)=\"https?://(?!localhost)", around) and "@import" not in around
    assert 'href="http://localhost:8501/?text=x&amp;model=y"' in document
    # the pages draw these figures too, where Streamlit swaps "#000001"-"#000030" for theme colours: none may hold one
    assert not STAND_IN.search(around)


def test_a_model_without_markers_gets_a_note(bundle):
    document = build_report(bundle("bert"), "a fine film", ("markers", "beacons"), path_token=1)
    assert "has no thought markers" in document and "has no activation beacons" in document
    # the Beacons page draws such a model's measured MLP update ratio: the report drew nothing and named nothing
    assert "Measured MLP update ratio" in document and document.count('class="plotly-graph-div"') == 1
    document = build_report(bundle("bert"), "a fine film", ("markers",), path_token=1)
    # no figure: no 4.8 MB of plotly.js; no reasoning path listed as drawn where the section has none
    assert "plotly.js v" not in document and "<script" not in document and "reasoning path" not in document
    assert "only ThoughtBeacon models route tokens through them" in document
    assert '<p class="caption"></p>' not in document  # a note alone, no empty caption before it
    # a ThoughtBeacon model built without markers (the baseline twin) is one: its note said otherwise
    twin = build_report(bundle("baseline"), "a fine film", ("markers",))
    assert "has no thought markers (it was built with none)" in twin and "only ThoughtBeacon" not in twin


def test_folder_paths_stay_out_of_the_report(checkpoint):
    folder = checkpoint("ours")
    model = load_model(folder, device="cpu")
    link = "http://localhost:8501/?" + urlencode({"model": str(folder), "text": "a fine film"})
    document = build_report(model, "a fine film", ("overview",), link=link)
    assert str(folder) not in document and quote_plus(str(folder)) not in document
    assert f"<b>{folder.name}</b>" in document and "Live view:" not in document
    assert f"<p>{LINK_LEFT_OUT}</p>" in document  # the link is left out, and the file says why
    offered = build_report(model, "a fine film", ("overview",), link="http://x/?model=tiny", model_label="tiny")
    assert 'Live view: <a href="http://x/?model=tiny">' in offered and LINK_LEFT_OUT not in offered


def test_a_link_names_a_shipped_model_a_hub_id_or_an_offered_name_never_a_folder(checkpoint):
    from explainer.loading.shipped import SHIPPED

    folder = load_model(checkpoint("ours"), device="cpu")
    assert link_model(folder) is None and link_model(folder, "tiny") == "tiny"
    assert link_model(replace(folder, name=SHIPPED[0].name, folder=SHIPPED[0].folder)) == SHIPPED[0].name
    assert link_model(replace(folder, name="org/model", folder=None)) == "org/model"  # a hub id


@pytest.mark.parametrize("pages, method, message", [(("nope",), "saliency", "Unknown report page"),
                                                     ((), "saliency", "at least one page"),
                                                     (("overview",), "magic", "Unknown method")])
def test_unknown_options_are_refused(bundle, pages, method, message):
    with pytest.raises(ReportError, match=message):
        build_report(bundle("ours"), "a fine film", pages, method=method)


def test_the_attribution_limit_leaves_a_note(bundle):
    document = build_report(bundle("ours"), "a fine film " * 10, ("attribution",), attribution_token_limit=5)
    assert "this text has 62 tokens; attribution is limited to 5 here" in document
    # a text longer than the model reads: its whole count, and what the model reads, as the page says it
    read = bundle("ours").max_length
    long = build_report(bundle("ours"), "a fine film " * 40, ("attribution",), attribution_token_limit=5)
    assert f"this text has 240 tokens (the model reads {read} of them)" in long


@pytest.mark.slow
def test_a_64_token_report_of_four_pages_of_the_default_model_is_under_6_mb():
    bundle = load_model(device="cpu")
    text = " ".join(["the film is a quiet and honest piece of work"] * 6)
    ids = bundle.tokenizer(text)["input_ids"]
    assert 60 <= len(ids) <= 70
    document = build_report(bundle, text, ("overview", "attention", "attribution", "markers"))
    assert len(document.encode("utf-8")) < 6 * 2**20


def test_the_card_summary_is_plain_text(checkpoint, tmp_path):
    import shutil

    from explainer.report import card_summary

    folder = tmp_path / "carded"
    shutil.copytree(checkpoint("ours"), folder)
    (folder / "README.md").write_text(
        "# tiny\n\nA **tiny** model trained with `train.py` on *nothing* ([notes](https://example.org)).\n\n## More\n"
    )
    assert card_summary(load_model(folder)) == "A tiny model trained with train.py on nothing (notes)."
    # Windows line ends: the first paragraph ran into the next one
    (folder / "README.md").write_bytes(b"# tiny\r\n\r\nWindows text here.\r\n\r\nmore\r\n")
    assert card_summary(load_model(folder)) == "Windows text here."
    # an address with parentheses: the link's text only, no stray ")" after it
    (folder / "README.md").write_text("See [x](javascript:alert(6)). And [wiki](https://w.org/F_(x)) too.\n")
    assert card_summary(load_model(folder)) == "See x. And wiki too."
    # a card linked out of the model's files is not read: a demo's report showed /etc/os-release as the card
    outside = tmp_path / "server-secret.md"
    outside.write_text("# x\n\nserver secret\n")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(outside)
    assert card_summary(load_model(folder)) == ""
    # the Hugging Face cache's layout: snapshot files link to blobs, the card beside the config
    blobs, snapshot = tmp_path / "hub" / "blobs", tmp_path / "hub" / "snapshots" / "abc"
    shutil.copytree(checkpoint("ours"), snapshot)
    blobs.mkdir()
    for name, content in (("card", "# t\n\nA cached card.\n"), ("config", (snapshot / "config.json").read_text())):
        (blobs / name).write_text(content)
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(blobs / "config")
    (snapshot / "README.md").symlink_to(blobs / "card")
    assert card_summary(load_model(snapshot)) == "A cached card."


def test_the_report_draws_the_head_method_baseline_and_tau_it_is_given(bundle):
    model = bundle("ours")
    document = build_report(model, "a fine film", ("overview", "attribution", "beacons"), method="occlusion",
                            baseline="mask", layer=1, head=1, beacon_threshold=0.3)
    assert "the attention of layer 1, head 1" in document and "Attribution: Occlusion" in document
    assert "attribution baseline" in document and "beacon tau" in document and ">0.30 (the model" in document
    clamped = build_report(model, "a fine film", ("overview",), layer=99, head=-4)
    last = model.model.config.num_hidden_layers - 1
    assert f"the attention of layer {last}, head 0" in clamped
    # the options table names the head drawn (the CLI's --layer/--head were only in the caption and the link)
    assert "<td>head in the Overview section</td><td>layer 1, head 1</td>" in document
    assert f"<td>head in the Overview section</td><td>layer {last}, head 0</td>" in clamped
    with pytest.raises(ReportError, match="Unknown baseline"):
        build_report(model, "a fine film", ("overview",), baseline="noise")


def test_the_report_attributes_the_label_it_is_given_and_draws_the_statistic_map_it_is_given(bundle):
    from explainer.attribution.attributing import attribute

    model = bundle("ours")
    text = "a fine film"
    predicted = trace(model, text).predicted
    other = model.label_names[1 - predicted]
    document = build_report(model, text, ("attention", "attribution"), method="saliency", target=other,
                            statistic="self_share")
    assert f"Saliency of the label {other}. Darker = more weight (towards {other}); unsigned" in document
    assert f"<td>attribution target</td><td>{other}</td>" in document
    assert "head self share per layer and head" in document and "<td>head statistic</td><td>self share</td>" in document
    expected = attribute(model, text, "saliency", target=1 - predicted)
    assert attribution_figures.highlighted_html(expected) in document  # the other label's scores, drawn
    default = build_report(model, text, ("attribution",), method="saliency")
    assert "Saliency of the predicted label" in default and "the predicted label</td>" in default
    with pytest.raises(ReportError, match="Unknown label"):
        build_report(model, text, ("attribution",), target="neutral")
    with pytest.raises(ReportError, match="Unknown head statistic"):
        build_report(model, text, ("attention",), statistic="bogus")


@pytest.mark.parametrize("method, listed", [
    ("rollout", ()), ("saliency", ("target",)), ("grad_x_attention", ("target",)),
    ("occlusion", ("baseline", "target")),
])
def test_the_report_lists_and_names_only_what_the_attribution_method_reads(bundle, method, listed):
    # Rollout's caption said "of the predicted label ..." beside "does not depend on the label", and the table listed
    # a baseline for methods that read none: options that shaped nothing.
    document = build_report(bundle("ours"), "a fine film", ("attribution",), method=method, baseline="mask")
    assert ("<td>attribution baseline</td><td>mask</td>" in document) == ("baseline" in listed)
    assert ("<td>attribution target</td>" in document) == ("target" in listed)
    assert (" of the predicted label " in document) == ("target" in listed)
    assert "<td>attribution method</td>" in document


def test_figures_use_plotly_template_even_where_streamlit_set_its_own(bundle, monkeypatch):
    # Inside the app, Streamlit makes its template the process default; its tight margins clipped the sidebar
    # report's axis labels ("ve" for "negative"). The file has no Streamlit front end, so it must not use it.
    import plotly.io as pio
    from streamlit.elements.lib.streamlit_plotly_theme import configure_streamlit_plotly_theme

    monkeypatch.setattr(pio.templates, "default", pio.templates.default)  # restored after the test
    configure_streamlit_plotly_theme()
    assert pio.templates.default == "streamlit"
    document = build_report(bundle("ours"), "A good film.", ("overview",))
    figures = re.findall(r'Plotly\.newPlot\(\s*"figure-\d+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', document,
                         re.S)
    assert len(figures) == 2
    plotly_background = pio.templates["plotly"].layout.plot_bgcolor
    for _, layout in figures:
        assert f'"plot_bgcolor":"{plotly_background}"' in layout


def test_the_attribution_section_explains_the_label_the_header_shows_at_every_tau(bundle):
    # A beacon model is attributed dense; at a tau that skips most MLP updates some texts change their
    # prediction, and the section must still explain the header's label (and say the dense run differs).
    loaded = bundle("ours")
    differed = 0
    for tau in (0.0, 0.9):
        for text in CORPUS[:6]:
            document = build_report(loaded, text, ["overview", "attribution"], method="saliency", beacon_threshold=tau)
            header = re.search(r"Prediction: <b>([^<(]+) \(", document).group(1)
            explained = re.search(r"Saliency of the predicted label ([^.]+)\. ", document).group(1)
            assert explained == header, (tau, text)
            differed += "run dense it would predict" in document
            # at tau 0 nothing is skipped: the dense run is the model the header shows, so no note says otherwise
            assert ("attributed dense" in document) == (tau > 0), (tau, text)
    assert differed, "no text changed its prediction at tau 0.9: the note went untested"


def test_a_report_from_the_markers_or_beacons_page_draws_its_path_and_skips_and_names_what_it_leaves_out(bundle):
    loaded = bundle("ours")
    document = build_report(loaded, "a fine film", ["markers", "beacons"], path_token=2,
                            left_out=("the marker forced on the page (the report shows the model's own routing)",))
    assert "reasoning path of token 2, &#x27;" in document  # the token, escaped, whatever the tiny vocabulary
    assert "<td>reasoning path</td><td>token 2</td>" in document
    assert "<td>not in this report</td><td>the marker forced on the page" in document
    assert "MLPs skipped at τ = " in document and "of the forward pass&#x27;s FLOPs saved" in document.replace(
        "'", "&#x27;")


def test_a_cut_text_is_said_with_the_sentence_the_pages_use(bundle):
    ours = bundle("ours")
    text = "a fine film " * 200
    traced = trace(ours, text)
    assert traced.truncated
    document = build_report(ours, text, ("overview",))
    said = truncation_sentence(traced.num_text_tokens, traced.max_length)  # the text's own tokens, not specials
    assert f"The text has {traced.num_text_tokens:,} tokens" in said and said in document.replace("&#x27;", "'")


def test_the_report_attributes_with_the_page_s_options(bundle, monkeypatch):
    """The report redraws the Attribution page: with the command line's 256 path points instead of the page's 128,
    an integral that had not converged gave other scores in the report than on the page it stood for."""
    from explainer.attribution.options import page_options
    from explainer.report import building

    seen = []
    real = building.attribute
    monkeypatch.setattr(building, "attribute", lambda *args, **kw: seen.append(kw["options"]) or real(*args, **kw))
    build_report(bundle("ours"), "a fine film", ("attribution",), method="integrated_gradients", baseline="mask")
    assert seen == [page_options("mask")] and seen[0].max_steps == 128


def test_pages_may_be_one_comma_separated_string_as_the_command_line_gives_them(bundle):
    """build_report(bundle, text, pages="overview") failed: "Unknown report page(s) ['o', 'v', 'e', ...]"."""
    from explainer.report.options import check_pages

    assert check_pages("overview, attention") == ("overview", "attention") == check_pages(["overview", "attention"])
    assert '<h2 id="overview">' in build_report(bundle("bert"), "a fine film", "overview")
    with pytest.raises(ReportError, match=r"Unknown report page\(s\) \['nope'\]"):
        check_pages("overview,nope")


def test_each_note_of_the_attribution_caption_ends_its_sentence(bundle, monkeypatch):
    """"... has not converged" ran straight into "Convergence delta ..." with no full stop between them."""
    import explainer.report.building as building

    real = building.attribute

    def with_a_note(*args, **kwargs):
        return replace(real(*args, **kwargs), notes=("integrated gradients has not converged",))

    monkeypatch.setattr(building, "attribute", with_a_note)
    document = build_report(bundle("bert"), "a fine film", ["attribution"])
    assert "has not converged. Convergence delta" in document


def test_a_typed_special_token_is_said_with_the_sentence_the_pages_use(bundle):
    """The pages say a typed "[CLS]" is read as that token; the report, kept after the page is gone, said nothing."""
    from explainer.capture.encoding import typed_special_sentence

    bert = bundle("bert")
    sep = bert.tokenizer.sep_token
    document = build_report(bert, f"a fine {sep} film", ("overview",)).replace("&#x27;", "'")
    assert "<td>special tokens typed</td>" in document and typed_special_sentence([sep]) in document
    assert "special tokens typed" not in build_report(bert, "a fine film", ("overview",))


def test_a_rollout_section_runs_at_the_reports_tau_and_claims_no_dense_run(bundle):
    """--method rollout --tau 0.99 said "attributed dense" (rollout never runs dense) and drew the model's own
    tau's bars while its Attention section drew that tau's rollout."""
    loaded = bundle("ours")
    def section(tau: float) -> str:  # the attribution section alone: the options table before it names the tau
        document = build_report(loaded, CORPUS[0], ["attribution"], method="rollout", beacon_threshold=tau)
        assert "attributed dense" not in document and "run dense" not in document, tau
        return document[document.index('<h2 id="attribution"'):]

    assert section(0.0) == section(0.0)  # drawn alike (no random ids): a difference is the bars'
    assert section(0.0) != section(0.95)  # the bars follow the tau


def test_the_headline_says_the_reports_own_tau_where_it_is_not_the_models(bundle):
    """A report from the Beacons page at tau 0.90 headlined "negative (82.3%)" while the Overview page, at the
    model's own tau, showed 98.6%: the headline now names its tau."""
    from explainer.views.text import tau_text

    loaded = bundle("ours")
    own = tau_text(loaded.model.config.beacon_threshold)
    other = "0.90" if own != "0.90" else "0.10"
    headline = re.compile(r"<p>Prediction: <b>([^<]*)</b>")
    shown = headline.search(build_report(loaded, CORPUS[0], ["overview"], beacon_threshold=float(other))).group(1)
    assert shown.endswith(f"%) at τ {other}"), shown
    for tau in (None, float(own)):
        shown = headline.search(build_report(loaded, CORPUS[0], ["overview"], beacon_threshold=tau)).group(1)
        assert " at τ" not in shown and shown.endswith("%)"), (tau, shown)


def test_text_the_model_reads_as_its_unknown_token_is_said():
    """Emoji and Chinese read as [UNK] by a WordPiece vocabulary: the prediction came with no word of it."""
    from explainer.capture.validation import unknown_sentence

    tokens, special = ["[CLS]", "le", "[UNK]", "but", "[UNK]", "[SEP]"], [True, False, False, False, False, True]
    assert unknown_sentence(tokens, special, "[UNK]") == (
        "The text: 2 of its 4 tokens are the model's unknown token '[UNK]': its vocabulary lacks those characters "
        "(emoji or another script, say), so the model reads them all alike, whatever they were.")
    assert unknown_sentence(tokens, special, "[UNK]", who="Model B").startswith("Model B: 2 of its 4 tokens are")
    assert unknown_sentence(["[CLS]", "[UNK]", "[SEP]"], [True, False, True], "[UNK]").startswith(
        "The text: 1 of its 1 token is")
    assert unknown_sentence(tokens, special, None) is None  # byte-level BPE has none
    assert unknown_sentence(["[CLS]", "le", "[SEP]"], [True, False, True], "[UNK]") is None


def test_an_unknown_token_that_is_also_end_of_text_is_no_unknown_token(tokenizer):
    """GPT-2's unknown token is <|endoftext|>: a text holding it typed is said as a typed special token, not as
    characters the vocabulary lacks."""
    from types import SimpleNamespace

    from explainer.capture.validation import unknown_token

    assert unknown_token(tokenizer) == tokenizer.unk_token  # a WordPiece [UNK]
    gpt2 = SimpleNamespace(unk_token="<|endoftext|>", eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    assert unknown_token(gpt2) is None and unknown_token(SimpleNamespace()) is None
