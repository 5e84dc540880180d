"""Start `streamlit run serve.py` (the app with its warm start) on 127.0.0.1 and drive it with headless Debian
Chromium (never a downloaded browser). The server starter is the benches' own (explainer/bench/app_driver.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from explainer.bench.app_driver import CHROMIUM, CHROMIUM_FLAGS, app_server

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "streamlit_server"]


@contextlib.contextmanager
def streamlit_server(cache_dir: Path, timeout: float = 90.0) -> Iterator[str]:
    """Serve the app; yield its base URL; stop it afterwards. Raises with the server log if it never starts."""
    with app_server(cache_dir, timeout=timeout) as server:
        yield server.url
