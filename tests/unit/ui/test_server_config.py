"""The app's Streamlit config: listens on this machine only and makes no outside calls."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_server_binds_to_loopback_and_sends_no_usage_stats():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False


def test_visitors_see_that_a_page_is_running():
    """toolbarMode "minimal" draws no toolbar, so Streamlit's "Running..." status never showed
    (tests/browser/test_app_driver.py checks the status in a real browser)."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["toolbarMode"] in ("auto", "developer", "viewer")
