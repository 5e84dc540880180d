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
    # No session ever shows another session's text, at any moment the driver looked; each shows its own.
    own = [text for _, session in sessions for _, text in session]  # in the order of `visits`
    leaks = [(v.page, seen) for v, mine in zip(visits, own) for seen in v.texts_seen if seen in texts - {mine}]
    assert not leaks, leaks
    missing = [v for v in visits if not v.own_text]
    assert len(missing) <= 1, "\n".join(f"{v.page!r} {v.first_figure_s} {v.done_s} {v.texts_seen} {v.where}"
                                        for v in missing) + "\n" + log[-3000:]
    assert "partially initialized module" not in log and "Traceback" not in log
