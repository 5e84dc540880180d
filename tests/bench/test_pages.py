"""The pages and serve benches' own logic (their browser runs take minutes: run them with
`python -m explainer bench pages|serve --json`): fresh texts of an exact token count, rows and targets."""

from __future__ import annotations

from explainer.bench import BENCHES
from explainer.bench.app_driver import Visit
from explainer.bench.common import _count
from explainer.bench.pages import _rows, fresh_texts
from explainer.bench.serve import _p95


def test_both_benches_are_registered():
    assert {"pages", "serve"} <= set(BENCHES)


def test_fresh_texts_differ_and_have_exactly_n_tokens(tokenizer):
    texts = fresh_texts(tokenizer, 17, 5)
    assert len(set(texts)) == 5 and all(_count(tokenizer, t) == 17 for t in texts)


def test_rows_carry_the_issue_targets():
    visit = Visit("attention", first_figure_s=3.0, done_s=5.0, exception=False, own_text=True)
    fresh = _rows("attention", 17, "fresh", visit, [2.0], [2.0])
    assert [r["target"] for r in fresh] == ["ratio <= 2", "ratio <= 3"]
    assert [r["meets"] for r in fresh] == [True, True]
    warm = _rows("attention", 17, "warm", visit, [1.0], [4.0])
    assert [r["meets"] for r in warm] == [False, True]  # 3x and 1.25x against 1.5x
    long_text = _rows("attribution", 128, "fresh", visit, [2.0], [2.0])
    assert long_text[1]["target"] is None and long_text[1]["meets"] is None  # no target for that row
    missing = _rows("", 17, "fresh", Visit("", None, None, True, False), [2.0], [2.0])
    assert missing[0]["meets"] is False  # no figure at all never meets a target
    # an exception box ends the driver's wait as a figure would: a crashed page met its target in 3 s
    crashed = _rows("attention", 17, "fresh", Visit("attention", 3.0, 5.0, True, True), [2.0], [2.0])
    assert [r["meets"] for r in crashed] == [False, False] and [r["ours"] for r in crashed] == [None, None]
    assert all("(the page showed an exception)" in r["case"] for r in crashed)
    assert _rows("", 17, "fresh", visit, [], []) == []  # no floor measured yet: nothing to compare with


def test_p95_of_a_small_sample():
    assert _p95([1.0]) == 1.0 and _p95([float(i) for i in range(1, 101)]) == 95.0


def test_serve_names_which_check_each_problem_visit_failed():
    from explainer.bench.serve import describe, ok, problems

    visits = [
        Visit("", 2.0, 3.0, exception=False, own_text=True, shown_text="mine"),
        Visit("attention", 2.0, 3.0, exception=True, own_text=True, shown_text="mine"),
        Visit("markers", 2.0, 3.0, exception=False, own_text=False, shown_text="another session's"),
        Visit("beacons", 2.0, 3.0, exception=False, own_text=False, shown_text=""),
        Visit("", None, None, exception=False, own_text=False, shown_text=""),
    ]
    kinds = problems(visits)
    assert kinds == {"an exception": ["attention"], "a text not its own": ["markers"],
                     "no sidebar text": ["beacons", "overview"], "no figure": ["overview"]}
    assert [ok(v) for v in visits] == [True, False, False, False, False]
    assert describe(kinds) == ("an exception 1 (attention); a text not its own 1 (markers); "
                               "no sidebar text 2 (beacons, overview); no figure 1 (overview)")
    assert describe(problems(visits[:1])) == "no problem"


def test_closed_loop_rows_estimate_the_mean_visit_length_the_cpu_allows():
    from explainer.bench.serve import CpuSpent, closed_loop_rows

    alone = CpuSpent(machine_s=15.0, server_s=5.0, wall_s=20.0, cores=2)  # 10 visits: 1.5 s of CPU each
    loaded = CpuSpent(machine_s=300.0, server_s=100.0, wall_s=160.0, cores=2)  # 100 visits: 3 s each
    visits = [Visit("", 1.0, 10.0, exception=False, own_text=True)] * 50 + \
             [Visit("", 1.0, 14.0, exception=False, own_text=True)] * 50
    cpu, allowed = closed_loop_rows(alone, 10, loaded, visits, sessions=8)
    assert (cpu["ours"], cpu["reference"]) == (3.0, 1.5)
    assert "server 1.00 s" in cpu["case"] and "browsers and driver 2.00 s" in cpu["case"] and "94% busy" in cpu["case"]
    assert (allowed["ours"], allowed["reference"]) == (12.0, 12.0)  # 8 x 3 s / 2 cores against a 12 s mean visit
    assert all(row["target"] is None and row["meets"] is None for row in (cpu, allowed))  # reference rows
    assert closed_loop_rows(alone, 10, loaded, [Visit("", None, None, False, True)], sessions=8) == []


def test_cpu_watch_counts_the_servers_own_cpu_within_the_machines():
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil

    from explainer.bench.app_driver import Server
    from explainer.bench.serve import CpuWatch

    spin = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    process = subprocess.Popen([sys.executable, "-c", spin])  # a stand-in server: 0.6 s of CPU, then idle
    try:
        with CpuWatch(Server(url="", process=process, log=Path())) as watch:
            deadline = time.monotonic() + 20
            while sum(psutil.Process(process.pid).cpu_times()[:2]) < 0.6 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        process.kill()
    spent = watch.spent
    assert 0.3 <= spent.server_s <= spent.machine_s + 0.1  # its spin is counted, and is part of the machine's
    assert spent.cores == psutil.cpu_count() and spent.wall_s > 0 and spent.utilisation > 0


def test_serve_holds_each_visit_to_its_own_models_median_alone():
    from explainer.bench.serve import MAX_P95_RATIO, latency_rows

    # A heavy and a light model: under load each visit took twice its own model's median alone. Held to one
    # model's median (the heavy one's), the light model's visits would read 0.2x, the heavy's 2x.
    alone = {"heavy": {"attribution": [9.0, 10.0, 11.0]}, "light": {"attribution": [1.0, 1.0, 2.0]}}
    for times in alone.values():
        times.update({page: [] for page in ("", "attention", "markers", "beacons")})
    loaded = [("heavy", Visit("attribution", 20.0, 21.0, False, True))] * 3 + [
        ("light", Visit("attribution", 2.0, 3.0, False, True))] * 17 + [
        ("light", Visit("attribution", None, None, True, True)),  # no figure: not timed
        ("light", Visit("attribution", 0.5, 0.6, True, True)),  # an exception box, not a figure: not timed
        ("light", Visit("attention", 5.0, 6.0, False, True)),  # no alone median for the page: no row
    ]
    (row,) = latency_rows(alone, loaded)
    assert row["ours"] == 2.0 and row["reference"] == 1.0 and row["ratio"] == 2.0
    assert row["meets"] is (2.0 <= MAX_P95_RATIO) and "20 visits" in row["case"]
    assert row["alone_median_seconds"] == {"heavy": 10.0, "light": 1.0}
    assert row["p95_seconds"] == {"heavy": 20.0, "light": 2.0}
    slow = [("light", Visit("attribution", 9.0, 9.5, False, True))] * 20
    assert latency_rows(alone, slow)[0]["meets"] is False  # 9x its own median
