"""Parsing the options a shared link carries (explainer/ui/links.py): hand-edited links fall back or clamp,
never fail a page."""

from __future__ import annotations

import pytest

from explainer.ui.links import parse_fraction, parse_ints, parse_names, parse_range


def test_parse_ints():
    assert parse_ints("0,2, 3") == [0, 2, 3] and parse_ints("") == []
    with pytest.raises(ValueError):
        parse_ints("0,x")


def test_parse_names_keeps_known_names_in_their_order():
    allowed = ("negative", "neutral", "positive")
    assert parse_names("positive,negative", allowed) == ["negative", "positive"]
    assert parse_names(" neutral , <script>", allowed) == ["neutral"]
    assert parse_names("", allowed) == []


def test_parse_range_clamps_and_orders():
    assert parse_range("3-20", 1, 64) == (3, 20)
    assert parse_range("20-3", 1, 64) == (3, 20)
    assert parse_range("0-500", 1, 64) == (1, 64)
    for bad in ("3", "a-b", "", "-"):
        with pytest.raises(ValueError):
            parse_range(bad, 1, 64)


def test_parse_fraction_clamps_finite_numbers_and_refuses_the_rest():
    assert parse_fraction("0.25") == 0.25 and parse_fraction("-5") == 0.0 and parse_fraction("7") == 1.0
    for bad in ("nan", "inf", "-inf", "x", ""):
        with pytest.raises(ValueError):
            parse_fraction(bad)
