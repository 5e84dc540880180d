"""AppTest (no JavaScript) of the Beacons page: shipped model, a tiny model for the sweep, a model without beacons."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from explainer.loading import shipped
from explainer.loading.bundle import load_model
from explainer.ui.thought_beacon import shipped_thought_beacon
from explainer.views.text import tau_text
from tests.conftest import FROM_SCRATCH, ROOT, from_scratch_model

pytestmark = pytest.mark.slow
PAGE = str(ROOT / "app_pages" / "beacons.py")
TEXT = "I wanted to love this movie, but the plot falls apart halfway through."


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path / "cache"))


def open_page(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=300)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_shipped_model_tau_slider_pins_and_the_honest_note():
    name = from_scratch_model()
    if name is None or name == shipped.UNTRAINED_NAME:
        pytest.skip(f"needs the shipped {FROM_SCRATCH} model")
    app = open_page({"model": name, "text": TEXT})
    assert not app.exception
    assert "**skipped**" in app.markdown[0].value  # the plain-words definition on top
    assert any("learned removal of the MLPs" in i.value for i in app.info)  # said, not hidden
    assert len(app.get("plotly_chart")) == 2  # gate map, skip mask
    at_model_tau = metrics(app)["MLP evaluations skipped"]
    app.slider(key="beacons_tau").set_value(0.0).run()
    assert not app.exception
    assert metrics(app)["MLP evaluations skipped"] == "0.0%" != at_model_tau
    assert metrics(app)["Total FLOPs saved"] == "0.0%" and app.query_params["tau"] == "0.00"
    app.slider(key="beacons_tau").set_value(0.95).run()
    app.multiselect(key="beacons_pin_layers").set_value([0, 1, 2, 3]).run()
    app.radio(key="beacons_pin_value").set_value("open (1: run the MLP in full)").run()
    assert not app.exception
    line = next(m.value for m in app.markdown if m.value.startswith("Prediction:"))
    before, after = line.split(" → after pinning: ")
    assert before != after.split(" · ")[0]  # the shown prediction moved
    assert len(app.get("plotly_chart")) == 4  # + before/after bars, pinned gate map
    assert app.query_params["pin_layers"] == "0,1,2,3" and app.query_params["pin"] == "1"
    # every slot pinned: every changed decision is a pinned slot, none a later layer's response
    told = next(c.value for c in app.caption if "skip decisions changed" in c.value)
    assert re.search(r"; (\d+) skip decisions changed: \1 at the pinned slots, 0 elsewhere", told), told


def test_sweep_runs_with_progress_then_comes_from_disk(checkpoint, monkeypatch):
    folder = str(checkpoint("ours"))
    app = open_page({"model": folder, "text": TEXT})
    assert not app.exception
    assert "Not run yet" in " ".join(c.value for c in app.caption)
    app.button(key="beacons_sweep").click().run()
    assert not app.exception
    assert not app.get("progress")  # the finished bar gives way to the results
    assert not any(b.key == "beacons_sweep" for b in app.button)  # and so does the button: it would only rerun
    table = app.dataframe[0].value
    assert list(table["tau"]) == sorted(table["tau"]) and len(table) == 21
    assert {"accuracy", "skip_rate", "flops_saved"} <= set(table.columns)
    assert table["skip_rate"].is_monotonic_increasing
    import explainer.thought_beacon.beacons as beacons

    def recomputed(*args, **kwargs):  # an AssertionError reaches app.exception (pytest.fail's ended the run unseen)
        raise AssertionError("the sweep was recomputed")

    monkeypatch.setattr(beacons, "sweep", recomputed)
    again = open_page({"model": folder, "text": "Something else."})
    assert not again.exception and len(again.dataframe[0].value) == 21
    assert len(again.get("plotly_chart")) == 3  # gate map, skip mask, curve


def test_link_with_bad_options_falls_back(checkpoint):
    app = open_page({"model": str(checkpoint("ours")), "tau": "7", "pin_layers": "a", "pin": "0.5"})
    assert not app.exception
    assert app.slider(key="beacons_tau").value == 1.0  # clamped
    assert app.multiselect(key="beacons_pin_layers").value == []
    assert app.radio(key="beacons_pin_value").value.startswith("open")
    # and the visitor is told, once, what the link asked that the page did not use
    told = " | ".join(t.value for t in app.toast)
    assert "tau=`7` is outside 0 to 1; 1 is used" in told and "pin_layers=`a` could not be read" in told
    # a number read fine but not a pin value is told as such, not as unreadable
    assert "pin=`0.5` is neither 0 (shut) nor 1 (open); the default is used" in told


@pytest.mark.parametrize(("linked", "used"), [("0.306", 0.31), ("0.004", 0.0)])
def test_a_linked_tau_between_the_slider_steps_is_snapped_before_anything_runs(checkpoint, linked, used):
    """tau=0.004 ran at 0.004 under a slider (and an address) at 0.00, so the page's counts were another tau's."""
    import json

    app = open_page({"model": str(checkpoint("ours")), "text": TEXT, "tau": linked})
    assert not app.exception and app.slider(key="beacons_tau").value == used
    told = " | ".join(t.value for t in app.toast)
    assert f"tau=`{linked}` is between the slider's steps of 0.01; {used:g} is used" in told
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert any(f"MLP skipped at τ = {used:.2f}" in title for title in titles), titles


def test_model_without_beacons_shows_the_measured_mlp_ratio_and_offers_a_switch(checkpoint):
    app = open_page({"model": str(checkpoint("bert")), "text": TEXT})
    assert not app.exception
    assert any("not a ThoughtBeacon model" in i.value for i in app.info)
    assert [h.value for h in app.subheader] == ["Measured MLP update ratio (this model has no beacons)"]
    assert len(app.get("plotly_chart")) == 1
    app.button(key="switch_to_thought_beacon").click().run()
    assert not app.exception and app.session_state["model_choice"] == shipped_thought_beacon("use_beacons")


def test_tau_left_at_one_models_default_follows_the_next_models_default(checkpoint, tmp_path):
    import json
    import shutil

    first = str(checkpoint("ours"))
    second = tmp_path / "ours-tau-07"  # the same model with another own tau
    shutil.copytree(first, second)
    config = json.loads((second / "config.json").read_text())
    own = float(config["beacon_threshold"])
    config["beacon_threshold"] = 0.7 if own != 0.7 else 0.3
    (second / "config.json").write_text(json.dumps(config))

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    app.query_params["model"], app.query_params["text"] = first, TEXT
    app.run()
    app.switch_page("app_pages/beacons.py").run()
    assert app.slider(key="beacons_tau").value == pytest.approx(own)
    app.text_input(key="model_other").set_value(str(second)).run()  # the sidebar's folder box (a folder is open)
    assert not app.exception, app.exception
    assert app.slider(key="beacons_tau").value == pytest.approx(config["beacon_threshold"])  # untouched: follows

    app.slider(key="beacons_tau").set_value(0.5).run()  # moved: the user's choice stays
    app.text_input(key="model_other").set_value(first).run()
    assert app.slider(key="beacons_tau").value == pytest.approx(0.5)


def test_an_untouched_tau_follows_the_model_s_own_when_its_folder_is_trained_again(checkpoint, tmp_path):
    """A folder trained again in place with another own tau: the slider stayed at the old one, and the page showed
    the prediction at it while the slider's help named the new one."""
    import json
    import shutil

    folder = shutil.copytree(checkpoint("ours"), tmp_path / "model")
    app = open_page({"model": str(folder), "text": TEXT})
    before = app.slider(key="beacons_tau").value
    config = json.loads((folder / "config.json").read_text())
    config["beacon_threshold"] = round(before + 0.1, 2) if before < 0.9 else round(before - 0.1, 2)
    (folder / "config.json").write_text(json.dumps(config))  # trained again: another own tau
    app.run()
    assert not app.exception and app.slider(key="beacons_tau").value == pytest.approx(config["beacon_threshold"])
    app.slider(key="beacons_tau").set_value(0.0).run()  # a tau the user moved stays
    app.run()
    assert app.slider(key="beacons_tau").value == 0.0


def test_the_prediction_at_this_tau_says_the_other_pages_use_the_models_own(checkpoint):
    """After moving τ the prediction here differs from every other page's (even its label), and nothing said why."""
    app = open_page({"model": str(checkpoint("ours")), "text": "a fine film", "tau": "0.90"})
    assert not app.exception, app.exception
    own = tau_text(load_model(str(checkpoint("ours")), device="cpu").model.config.beacon_threshold)
    metric = next(m for m in app.metric if m.label == "Prediction at this τ")
    assert metric.help == f"The other pages show the prediction at the model's own τ, {own}", metric.help
    assert "which the other pages show its predictions at" in app.slider(key="beacons_tau").help
