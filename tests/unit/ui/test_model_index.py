"""links.seed_model_index: a layer whose default is the model's last follows the model until chosen; a choice (the
user's, a link's) is kept across models, clamped where it does not fit and whole again where it does."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def page() -> None:
    import streamlit as st

    from explainer.ui import links

    if st.session_state.pop("back", None):  # what links.begin_run does on Back to an address with layer=2
        st.session_state.pop("lay", None)
        st.session_state.get(links.KEPT_KEY, {}).pop("lay", None)
        st.session_state[links.LINK_KEY] = {"layer": "2"}
    layers = st.session_state.setdefault("layers", 12)
    value = links.seed_model_index("lay", "layer", layers, layers - 1)
    st.number_input("layer", 0, layers - 1, key="lay")
    st.markdown(f"value {value}")


def start() -> AppTest:
    at = AppTest.from_function(page, default_timeout=60)
    at.session_state["model_choice"], at.session_state["text"] = "m", "t"  # no link to read the sidebar from
    return at.run()


def shown(at: AppTest, layers: int | None = None) -> int:
    if layers is not None:
        at.session_state["layers"] = layers
        at.run()
    assert not at.exception, at.exception
    return int(at.markdown[-1].value.split()[-1])


def test_the_default_follows_the_model_and_a_choice_comes_back_whole():
    at = start()
    assert shown(at) == 11 and shown(at, 6) == 5 and shown(at, 12) == 11  # never chosen: the last layer
    at.number_input(key="lay").set_value(8).run()
    assert shown(at, 6) == 5  # clamped where it does not fit (said in a toast)
    assert shown(at, 12) == 8  # and whole again where it does (it came back as the clamp's 5, or as 11)
    assert shown(at, 8) == 7
    at.number_input(key="lay").set_value(6).run()
    at.number_input(key="lay").set_value(7).run()  # moved back to the 8-layer model's default: no longer a choice
    assert shown(at, 12) == 11


def test_a_layer_a_link_sets_in_the_run_that_switches_the_model_is_a_choice():
    """Back (or a page switch) re-seeds model and layer in one run: the layer was taken for the old default and
    the next switch replaced it."""
    at = start()
    at.session_state["back"] = True
    assert shown(at, 6) == 2
    assert shown(at, 12) == 2
