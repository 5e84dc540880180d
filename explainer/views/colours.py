"""Colour scales as the app's page draws them.

Streamlit's page rewrites the strings "#000001" to "#000030" anywhere in a figure's JSON into its theme's colours
(they are its template's stand-ins), so a scale stop that happens to be one of them is drawn in another colour:
Magma's darkest stop, "#000004", became pink, and a heatmap's largest values read as its smallest. The same colour
written as rgb() is left alone.
"""

from __future__ import annotations

import re
from typing import Any

import plotly.colors

STAND_IN = re.compile(r"#0000([0-2][0-9]|30)", re.IGNORECASE)


def _plain(colour: str) -> str:
    if not STAND_IN.fullmatch(colour):
        return colour
    return "rgb({}, {}, {})".format(*plotly.colors.hex_to_rgb(colour))


def page_safe(colorscale: str | list[Any]) -> list[list[Any]]:
    """`colorscale` (a plotly name or [[position, colour], ...]) as stops, none of them a Streamlit stand-in."""
    stops = plotly.colors.get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale
    return [[position, _plain(colour)] for position, colour in stops]
