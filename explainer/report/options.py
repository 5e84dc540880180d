"""The report's pages and defaults. Light on import (no torch): `python -m explainer report --help` lists them
without loading a model; building.py and the package re-export them."""

from __future__ import annotations

PAGES = ("overview", "attention", "attribution", "markers", "beacons")
DEFAULT_PAGES = ("overview", "attention", "attribution", "markers")
DEFAULT_METHOD = "integrated_gradients"
