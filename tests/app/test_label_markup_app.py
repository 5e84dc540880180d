"""Label names and model names come from a checkpoint's config: the pages show them as written, never as markdown
(a label "[neg](x)" drew a link in the Attention page's caption and the Attribution page's legend)."""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from explainer.views.text import markdown_literal
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
LABELS = {"0": "[neg](https://evil.example)", "1": "**pos**"}


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLAINER_CACHE", str(tmp_path_factory.getbasetemp() / "label-markup-cache"))


@pytest.fixture
def marked_up(checkpoint, tmp_path):
    folder = shutil.copytree(checkpoint("bert"), tmp_path / "marked")
    config = json.loads((folder / "config.json").read_text())
    config.update(id2label=LABELS, label2id={name: int(i) for i, name in LABELS.items()})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("page", ["attention", "attribution"])
def test_label_names_show_as_written(marked_up, page):
    app = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=300)
    app.query_params.update({"model": str(marked_up), "text": "a fine film", "method": "saliency"})
    app.run()
    assert not app.exception, app.exception
    escaped = [markdown_literal(name) for name in LABELS.values()]
    shown = [c.value for c in app.caption if any(name in c.value for name in escaped)]
    assert shown, [c.value for c in app.caption]  # the prediction (Attention) or the legend (Attribution)
    assert not any(name in c.value for c in app.caption for name in LABELS.values())  # never as markdown


@pytest.mark.parametrize("page", ["whatif", "beacons"])
def test_the_prediction_metric_shows_the_label_as_written(checkpoint, tmp_path, page):
    """A metric's value is markdown: What-if's predictions and the Beacons page's "Prediction at this τ" drew the
    label "[neg](https://evil.example)" as a link."""
    folder = shutil.copytree(checkpoint("ours"), tmp_path / "marked-ours")  # Beacons needs beacons
    config = json.loads((folder / "config.json").read_text())
    config.update(id2label=LABELS, label2id={name: int(i) for i, name in LABELS.items()})
    (folder / "config.json").write_text(json.dumps(config))
    app = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=300)
    app.query_params.update({"model": str(folder), "text": "a fine film", "edited": "a dull film"})
    app.run()
    assert not app.exception, app.exception
    predictions = [m.value for m in app.metric if "rediction" in m.label]
    assert len(predictions) == (2 if page == "whatif" else 1), [m.label for m in app.metric]
    assert all(value in {markdown_literal(name) for name in LABELS.values()} for value in predictions), predictions


def test_the_counterfactual_summary_shows_the_label_as_written(marked_up, monkeypatch):
    """"N flips from **label** found in ..." put the original's label into markdown as it was: a link drawn."""
    from explainer.ui import progressive

    monkeypatch.setattr(progressive, "rest_may_follow", lambda key: True)  # the browser has drawn the heads
    app = AppTest.from_file(str(ROOT / "app_pages" / "whatif.py"), default_timeout=300)
    app.query_params.update({"model": str(marked_up), "text": "a fine film", "edited": "a dull film"})
    app.run()
    app.button(key="whatif_find").click().run()
    assert not app.exception, app.exception
    summary = next(c.value for c in app.caption if " found in " in c.value)
    assert any(f"from **{markdown_literal(name)}** found" in summary for name in LABELS.values()), summary


def test_a_toast_naming_the_models_labels_shows_them_as_written(marked_up):
    """A link's target= not offered listed the label names in its toast as markdown: a link and an image drawn."""
    app = AppTest.from_file(str(ROOT / "app_pages" / "attribution.py"), default_timeout=300)
    app.query_params.update({"model": str(marked_up), "text": "a fine film", "method": "saliency", "target": "nope"})
    app.run()
    assert not app.exception, app.exception
    told = [t.value for t in app.toast if "target=" in t.value]
    offered = ", ".join(["Predicted label", *map(markdown_literal, LABELS.values())])
    assert told == [f"The link's target=`nope` is not offered here ({offered}); Predicted label is used."]


def test_the_beacons_note_shows_the_dev_file_named_in_metrics_as_written(checkpoint, tmp_path):
    """metrics.json's dev file name reached the "mostly skipped" note as markdown: a link and an image drawn."""
    folder = shutil.copytree(checkpoint("ours"), tmp_path / "metrics-ours")
    name = "[dev.tsv](javascript:alert(1)) ![x](evil.png) <img src=x onerror=alert(1)>"  # no "/": a path's name
    (folder / "metrics.json").write_text(json.dumps({"dev": {"skip_rate": 0.99},
                                                     "training": {"data": {"dev": name}}}))
    app = AppTest.from_file(str(ROOT / "app_pages" / "beacons.py"), default_timeout=300)
    app.query_params.update({"model": str(folder), "text": "a fine film"})
    app.run()
    assert not app.exception, app.exception
    notes = [i.value for i in app.info if "on its dev set" in i.value]
    assert len(notes) == 1 and f"(99.0% on its dev set, {markdown_literal(name)})" in notes[0], notes[0][100:300]
