"""A hand-edited or old link: every value the page cannot use as written is replaced (never fails the page) and a
toast says which and what is used instead, once per session; values used as written say nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def page() -> None:
    import streamlit as st

    from explainer.ui import links

    links.seed_index("layer_box", "layer", 6)
    links.seed_fraction("tau_box", "tau", 0.5)
    links.seed_choice("method_box", "method", ["gradient", "lime"])
    links.seed_choice("stat_box", "stat", ["entropy", "self_share"], tell=True)
    links.seed_indices("heads_box", "heads", 4)
    links.seed_names("labels_box", "labels", ["negative", "positive"])
    links.seed_range("tokens_box", "tokens", 1, 64, "tokens_high")
    st.write({k: st.session_state[k] for k in ("layer_box", "tau_box", "method_box", "stat_box", "heads_box",
                                               "labels_box", "tokens_box")})
    st.button("again")


def open_with(query: dict[str, str]) -> AppTest:
    app = AppTest.from_function(page, default_timeout=60)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_values_used_as_written_say_nothing(monkeypatch):
    from explainer.ui import links

    monkeypatch.setitem(links.SHARED_OPTION_VALUES, "stat", ("shared",))  # what another page reads as stat=
    app = open_with({"layer": "2", "tau": "0.25", "method": "lime", "heads": "0,3", "labels": "positive",
                     "tokens": "3-20", "stat": "self_share"})
    assert not app.exception and not app.toast and app.session_state["stat_box"] == "self_share"
    shared = open_with({"stat": "shared"})  # a value another page of the same option accepts: no error
    assert not shared.toast and shared.session_state["stat_box"] == "entropy"
    state = app.session_state
    assert (state["layer_box"], state["tau_box"], state["method_box"]) == (2, 0.25, "lime")
    assert (state["heads_box"], state["labels_box"], state["tokens_box"]) == ([0, 3], ["positive"], (3, 20))


def test_each_value_not_used_as_written_is_named_with_what_is_used_once():
    # a choice not offered falls back quietly where another page's option of the same name may be meant
    # (method=umap), and is told where the option is this page's alone (tell=True)
    app = open_with({"layer": "9", "tau": "-3", "method": "<b>shap</b>", "heads": "1,7", "labels": "positive,meh",
                     "tokens": "0-500", "stat": "bogus"})
    assert not app.exception
    told = [t.value for t in app.toast]
    assert told == [
        "The link's layer=`9` is outside 0 to 5 for this model; 5 is used.",
        "The link's tau=`-3` is outside 0 to 1; 0 is used.",
        "The link's stat=`bogus` is not offered here (entropy, self\\_share); entropy is used.",  # escaped: shows "_"
        "The link's heads=`1,7` names values outside 0 to 3; they are left out.",
        "The link's labels=`positive,meh` names values this data set does not have (meh); they are left out.",
        "The link's tokens=`0-500` is outside 1 to 64 here; 1-64 is used.",
    ]
    state = app.session_state
    assert (state["layer_box"], state["tau_box"], state["method_box"]) == (5, 0.0, "gradient")
    assert (state["heads_box"], state["labels_box"], state["tokens_box"]) == ([1], ["positive"], (1, 64))
    again = app.button[0].click().run()
    assert not again.toast  # said once, when the link seeded the page
    backwards = open_with({"tokens": "50-3"})  # read as meant, and said
    assert [t.value for t in backwards.toast] == ["The link's tokens=`50-3` runs from high to low; 3-50 is used."]
    assert backwards.session_state["tokens_box"] == (3, 50)


def test_a_label_named_twice_in_another_case_leaves_nothing_out_and_says_nothing():
    app = open_with({"labels": "negative,NEGATIVE, positive"})
    assert not app.exception and not app.toast and app.session_state["labels_box"] == ["negative", "positive"]
    app = open_with({"labels": "NEGATIVE,meh,%3Cb%3E"})  # only the names no label answers to are left out
    assert [t.value for t in app.toast] == [
        "The link's labels=`NEGATIVE,meh,%3Cb%3E` names values this data set does not have (meh, \\<b\\>); they are "
        "left out."]


def test_a_method_another_page_reads_is_quiet_and_one_no_page_reads_is_told():
    def page() -> None:
        from explainer.ui import links

        links.seed_choice("method_box", "method", ["saliency", "lime"], tell=True)

    for value, told in (("umap", False), ("pca", False), ("magic", True)):
        app = AppTest.from_function(page, default_timeout=60)
        app.query_params["method"] = value
        app.run()
        assert not app.exception and bool(app.toast) == told, value
        assert app.session_state["method_box"] == "saliency"


def test_unreadable_values_fall_back_to_defaults_and_say_so_in_one_line_of_code():
    app = open_with({"layer": "two", "tau": "nan", "tokens": "a-b", "heads": "`x`\n" + "y" * 80})
    assert not app.exception
    told = [t.value for t in app.toast]
    assert told[0] == "The link's layer=`two` could not be read here; the default is used."
    assert told[1] == "The link's tau=`nan` could not be read here; the default is used."
    assert told[2].startswith("The link's heads=`'x' yyy") and "…` could not be read" in told[2]
    assert told[2].count("`") == 2  # the value's own backticks cannot end its code span early
    assert told[3] == "The link's tokens=`a-b` could not be read here; the default is used."
    assert app.session_state["tokens_box"] == (1, 64) and app.session_state["layer_box"] == 0


def test_a_choice_shown_otherwise_than_its_value_is_named_as_the_link_writes_it():
    def page() -> None:
        from explainer.ui import links

        links.seed_choice("path_box", "path", [-1, *range(60)], parse=lambda raw: -1 if raw == "all" else int(raw),
                          tell=True, shown=lambda i: "all" if i < 0 else str(i))

    app = AppTest.from_function(page, default_timeout=60)
    app.query_params["path"] = "999"
    app.run()
    assert not app.exception and app.session_state["path_box"] == -1
    told = [t.value for t in app.toast]
    assert len(told) == 1 and told[0].startswith("The link's path=`999` is not offered here (all, 0, 1, 2,")
    assert told[0].endswith(", …); all is used.") and "-1" not in told[0]  # a long list ends at a whole value


def sized_page() -> None:
    import streamlit as st

    from explainer.ui import links

    size = st.session_state.get("size", 6)  # another model: fewer layers
    links.seed_index("layer_box", "layer", size)
    links.seed_indices("heads_box", "heads", size)
    st.write({k: st.session_state[k] for k in ("layer_box", "heads_box")})


def test_a_kept_choice_another_model_cannot_take_is_clamped_and_said():
    app = AppTest.from_function(sized_page, default_timeout=60).run()
    app.session_state["layer_box"], app.session_state["heads_box"] = 5, [1, 4]
    app.run()
    assert not app.toast  # all inside 0 to 5
    app.session_state["size"] = 4
    app.run()
    told = [t.value for t in app.toast]
    assert any("layer=5 is outside 0 to 3" in t and "3 is used" in t for t in told), told
    assert any("heads=4 is outside 0 to 3" in t and "left out" in t for t in told), told
    assert app.session_state["layer_box"] == 3 and app.session_state["heads_box"] == [1]


def ranged_page() -> None:
    import streamlit as st

    from explainer.ui import links

    high = st.session_state.setdefault("data_high", 60)  # the longest text of the data set shown
    links.seed_range("range_box", "tokens", 1, high, "range_high")
    st.slider("Tokens", 1, high, key="range_box")


def test_a_token_range_keeps_the_user_s_ends_across_data_sets_and_a_link_s_range_as_it_is():
    """seed_range's held range (a review): moving only the low end on a short data set made the top open, and a
    range from the address (Back, a switch) was replaced by the held one or widened to the top."""
    app = AppTest.from_function(ranged_page, default_timeout=60).run()
    app.slider(key="range_box").set_value((2, 40)).run()
    app.session_state["data_high"] = 20
    app.run()
    assert app.slider(key="range_box").value == (2, 20)
    app.slider(key="range_box").set_value((5, 20)).run()  # only the low end moved
    app.session_state["data_high"] = 60
    app.run()
    assert app.slider(key="range_box").value == (5, 40)  # the top the user chose, not the whole range
    linked = AppTest.from_function(ranged_page, default_timeout=60)
    linked.query_params["tokens"] = "2-40"
    linked.run()
    assert linked.slider(key="range_box").value == (2, 40)
    linked.session_state["data_high"] = 20
    linked.run()
    linked.session_state["data_high"] = 60
    linked.run()
    assert linked.slider(key="range_box").value == (2, 40)
