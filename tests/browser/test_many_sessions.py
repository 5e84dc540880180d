"""Eight first visits at once on a freshly started server, several times: no visitor ever sees an exception (a
fresh server used to crash 1 to 2 of 8 with a half-imported pandas), each gets its first figure and its own text.
The first round then browses on, each session with its own model (the short version of `bench serve`)."""

from __future__ import annotations

import os

import pytest

from explainer.bench.app_driver import CHROMIUM, app_server, run_sessions
from explainer.loading import shipped

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROUNDS = int(os.environ.get("EXPLAINER_COLD_ROUNDS", "1"))  # `bench serve` runs five; CI the short version
SESSIONS = 8


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_eight_first_visits_on_a_cold_server(tmp_path, round_):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (see README)")
    with app_server(tmp_path / "cache") as server:
        # The first round goes on browsing: each session its own shipped model and text, two pages (a third added
        # a minute on a slow 2-core machine; `python -m explainer bench serve` browses every page, not run in CI).
        pages = ("", "attention") if round_ == 0 else ("",)
        models = [m.name for m in shipped.available()]
        sessions = [(models[i % len(models)] if round_ == 0 else None,
                     [(page, f"Visitor {i} found the film {'warm' if i % 2 else 'dull'} and long.") for page in pages])
                    for i in range(SESSIONS)]
        visits = [v for session in run_sessions(server.url, sessions, timeout_s=240) for v in session]
        log = server.log.read_text()
    assert len(visits) == SESSIONS * len(pages)
    assert not [v for v in visits if v.exception], log[-3000:]
    assert all(v.first_figure_s is not None for v in visits), (visits, log[-3000:])
    texts = {text for _, session in sessions for _, text in session}
    # No session ever shows another session's text; every drawn sidebar shows the session's own.
    assert all(v.own_text or v.shown_text not in texts for v in visits), [v.shown_text for v in visits]
    assert sum(v.own_text for v in visits) >= len(visits) - 1, [(v.page, v.shown_text) for v in visits]
    assert "partially initialized module" not in log and "Traceback" not in log
