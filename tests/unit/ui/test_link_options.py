"""Parsing the options a shared link carries (explainer/ui/links.py): hand-edited links fall back or clamp,
never fail a page."""

from __future__ import annotations

import pytest

from explainer.report import DEFAULT_PAGES
from explainer.ui.links import NOT_IN_REPORT, LiveView, live_view, parse_fraction, parse_ints, parse_names, parse_range


def test_parse_ints():
    assert parse_ints("0,2, 3") == [0, 2, 3] and parse_ints("") == []
    with pytest.raises(ValueError):
        parse_ints("0,x")


def test_parse_names_keeps_known_names_in_their_order():
    allowed = ("negative", "neutral", "positive")
    assert parse_names("positive,negative", allowed) == ["negative", "positive"]
    assert parse_names(" neutral , <script>", allowed) == ["neutral"]
    assert parse_names("", allowed) == []
    # alike but for case and spaces, as data files and --target match labels (the filter was dropped with a toast)
    assert parse_names("negative,POSITIVE", ("Negative ", " Positive")) == ["Negative ", " Positive"]
    assert parse_names("a", ("A", "a ")) == []  # two alike names (tags may be): neither is guessed
    assert parse_names("a", ("A", "b")) == ["A"] and parse_names("A", ("A", "a")) == ["A"]  # an exact name wins


def test_parse_range_clamps_and_orders():
    assert parse_range("3-20", 1, 64) == (3, 20)
    assert parse_range("20-3", 1, 64) == (3, 20)
    assert parse_range("0-500", 1, 64) == (1, 64)
    for bad in ("3", "a-b", "", "-"):
        with pytest.raises(ValueError):
            parse_range(bad, 1, 64)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "x", ""])
def test_a_link_fraction_that_is_not_a_finite_number_is_refused(raw):
    with pytest.raises(ValueError):
        parse_fraction(raw)


def test_a_link_fraction_is_clamped():
    assert (parse_fraction("-1"), parse_fraction("0.3"), parse_fraction("7")) == (0.0, 0.3, 1.0)
    assert parse_fraction("0.25") == 0.25 and parse_fraction("-5") == 0.0


def test_a_live_page_link_gives_the_view_it_showed():
    assert live_view("", {}) == LiveView()
    assert live_view("attention", {"layer": "1", "head": "3"}) == LiveView(layer=1, head=3)
    assert live_view("attribution", {"method": "lime", "baseline": "mask", "layer": "1"}) == LiveView(
        method="lime", baseline="mask")  # the attribution page has no head: layer= is another page's
    assert live_view("beacons", {"tau": "0.2"}) == LiveView(
        pages=(*DEFAULT_PAGES, "beacons"), beacon_threshold=0.2, left_out=(NOT_IN_REPORT["beacons"],))
    # What-if attributes its original with the page's method (pad baseline, predicted label, as the report does)
    edited = {"method": "saliency", "baseline": "mask", "target": "negative", "text": "Fine.", "edited": "Dull."}
    assert live_view("whatif", edited) == LiveView(method="saliency", left_out=(NOT_IN_REPORT["whatif"],))
    # a copy left as the sidebar's text (or emptied) is no edit: the report said it left out edits never made
    assert live_view("whatif", {**edited, "edited": "Fine."}) == LiveView(method="saliency")
    assert live_view("whatif", {"method": "saliency", "text": "Fine."}) == LiveView(method="saliency")
    # hand-edited links keep the defaults, as the pages do
    assert live_view("attribution", {"method": "graph", "baseline": "noise"}) == LiveView()
    assert live_view("beacons", {"tau": "nan"}).beacon_threshold is None
    assert live_view("", {"layer": "x", "head": "-4"}) == LiveView(head=-4)  # clamped when drawn
    # pages the report has no section for are named as left out
    assert live_view("causal", {"layer": "2"}) == LiveView(left_out=("the Causal page's ablation and patching",))
    assert "comparison with model B" in live_view("compare", {"model_b": "sst2-baseline"}).left_out[0]
    # the attribution's target label and the Attention page's statistic map are drawn as the page showed them
    assert live_view("attribution", {"target": "positive"}).target == "positive"
    assert live_view("attention", {"stat": "self_share"}).statistic == "self_share"
    assert live_view("attention", {"stat": "bogus"}).statistic == "entropy"
    # the Causal page's head statistic map: the report drew entropy beside a page that showed another
    assert live_view("causal", {"stat": "first_token_share"}).statistic == "first_token_share"
    assert live_view("", {"stat": "self_share"}).statistic == "entropy"  # another page's option
    # the markers' path token is drawn; forcing and pinning are named as left out
    markers = live_view("markers", {"path": "4", "force_layers": "2,3", "force_pos": "4", "force_marker": "5"})
    assert markers.path_token == 4 and "marker forced" in markers.left_out[0]
    assert live_view("markers", {"path": "all", "force_layers": ""}) == LiveView(
        pages=markers.pages, left_out=(NOT_IN_REPORT["markers"],))  # the dictionary and sweep are the page's alone
    assert "marker dictionary" in markers.left_out[1]
    pinned = live_view("beacons", {"tau": "0.7", "pin_layers": "0,1", "pin": "0"})
    assert pinned.beacon_threshold == 0.7 and "gates pinned" in pinned.left_out[0] and "sweep" in pinned.left_out[1]


def test_a_report_names_no_data_set_view_the_model_has_none_of():
    # a baseline's report said "not in this report: the marker dictionary of a data set", its markers section
    # saying the model has no markers
    markers = live_view("markers", {"path": "all", "force_layers": "2", "force_pos": "1", "force_marker": "0"})
    assert markers.for_model(markers=True, beacons=False) == markers
    # nor forcing: the page of a model without markers forces nothing (it offers a switch to one that has them)
    assert markers.for_model(markers=False, beacons=True).left_out == ()
    beacons = live_view("beacons", {"tau": "0.3"})
    assert beacons.for_model(markers=False, beacons=False).left_out == ()
    assert beacons.for_model(markers=False, beacons=True) == beacons
    causal = live_view("causal", {})
    assert causal.for_model(markers=False, beacons=False) == causal


def test_the_shared_method_values_name_the_maps_projections():
    from explainer.dataset_map.projection import METHODS as PROJECTIONS
    from explainer.ui.links import SHARED_OPTION_VALUES

    assert set(PROJECTIONS) <= set(SHARED_OPTION_VALUES["method"])


def test_a_live_views_report_options_carry_every_field_build_report_takes():
    import inspect

    from explainer.report.building import build_report

    view = live_view("attention", {"layer": "2", "head": "3", "stat": "self_share"})
    options = view.report_options(("negative", "positive"))
    assert options["statistic"] == "self_share" and options["layer"] == 2 and options["head"] == 3
    assert set(options) <= set(inspect.signature(build_report).parameters)  # none dropped on the way
    attributed = live_view("attribution", {"target": "positive"})
    assert attributed.report_options(("negative", "positive"))["target"] == "positive"
    assert attributed.report_options(("neg", "pos"))["target"] is None  # a label this model lacks


def test_names_with_commas_percent_signs_and_edge_spaces_survive_a_link():
    from explainer.ui.links import joined, parse_names

    names = ["a, b", " spaced ", "50% off", "plain"]
    assert parse_names(joined(names), names + ["other"]) == names
    assert parse_names("negative, positive", ["negative", "neutral", "positive"]) == ["negative", "positive"]
    assert joined([0, 2, 3]) == "0,2,3"  # numbers as before


def test_the_shared_source_values_are_every_value_a_page_reads_for_source():
    from explainer.ui import causal, labelled
    from explainer.ui.links import SHARED_OPTION_VALUES

    assert set(SHARED_OPTION_VALUES["source"]) == {*causal.SOURCES, *labelled.SOURCES[:2], labelled.LISTED}


def test_what_a_report_leaves_out_claims_nothing_the_model_may_lack():
    """A baseline's report said "(the report shows this text's routing)" beside "sst2-baseline has no thought
    markers": what is left out must hold for every model."""
    for page in ("markers", "beacons"):
        assert "shows" not in NOT_IN_REPORT[page] and "data set" in NOT_IN_REPORT[page]


def test_the_offered_names_in_a_toast_are_escaped_and_cut_after_whole_names():
    from explainer.ui.links import offered_list

    assert offered_list(["[neg](https://e.x)", "![](x.png)"]) == "\\[neg\\](`https://e.x`), !\\[\\](x.png)"
    names = [f"label {i:02d}" for i in range(30)]  # 8 characters each
    shown = offered_list(names)
    assert shown.endswith(", …") and len(shown) <= 120
    assert shown.removesuffix(", …").split(", ") == names[: len(shown.removesuffix(", …").split(", "))]
    assert offered_list(["one long name " * 20]) == "one long name " * 20  # a first name is never cut away
    assert offered_list(["a" * 50, "b" * 50, "c" * 15]) == ", ".join(["a" * 50, "b" * 50, "c" * 15])  # 119: fits
    escaped = offered_list(["x_y"] * 40)  # measured as shown: "x\\_y" is 5 characters
    assert len(escaped) <= 120 and escaped.endswith(", …") and escaped.startswith("x\\_y, ")
    assert offered_list([]) == ""


def test_a_links_tau_or_path_the_model_cannot_take_stays_out_of_its_report(checkpoint):
    # the Beacons page of a model without beacons, opened with ?tau=: build_report refused the τ, and the downloaded
    # file blamed an empty text; a path= on a model without markers the same
    from explainer import load_model
    from explainer.report.building import build_report
    from explainer.report.linking import made_on_note

    view = live_view("beacons", {"tau": "0.7"}).for_model(markers=False, beacons=False)
    assert view.beacon_threshold is None
    assert live_view("markers", {"path": "2"}).for_model(markers=False, beacons=True).path_token is None
    bundle = load_model(checkpoint("bert"), device="cpu")
    assert "<!DOCTYPE html>" in build_report(bundle, "a fine film", **view.report_options(bundle.label_names))
    assert made_on_note("beacons", True) == ("It opens the Beacons page with this report's options; the other pages "
                                             "show the model's own τ, not this report's.")
    assert made_on_note("causal", False).startswith("It opens the page it was downloaded on, with that page's")


def test_a_link_that_forces_or_pins_says_it_opens_the_page_with_that():
    """The report leaves a forced marker or pinned gates out, but its link carries them: the note said it opened
    the page "with this report's options" alone."""
    from explainer.report.linking import made_on_note

    forced = live_view("markers", {"force_layers": "2", "force_marker": "3", "path": "3"})
    assert forced.intervention == "the marker forced on the page"
    assert forced.left_out[0] == "the marker forced on the page (the report shows the model's own routing)"
    pinned = live_view("beacons", {"pin_layers": "1,2", "pin": "0"})
    assert pinned.intervention == "the gates pinned on the page"
    assert made_on_note("beacons", False, pinned.intervention) == (
        "It opens the Beacons page with this report's options, and with the gates pinned on the page, which this "
        "report does not draw.")
    assert live_view("markers", {"path": "3"}).intervention == "" and live_view("beacons", {}).intervention == ""
    # a model without markers or beacons runs no forcing or pinning: nothing left out, nothing said of it
    for view in (forced.for_model(markers=False, beacons=True), pinned.for_model(markers=True, beacons=False)):
        assert view.intervention == "" and not any("on the page" in note for note in view.left_out)
    assert forced.for_model(markers=True, beacons=False).intervention == "the marker forced on the page"
