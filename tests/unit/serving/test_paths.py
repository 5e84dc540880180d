"""The path policy of demo mode: a path a visitor names is resolved (symlinks followed) and refused unless it lies
inside an allowed root; every refusal is a message naming the path as given, never a file's contents."""

from __future__ import annotations

import os

import pytest

from explainer.serving.paths import PathRefused, resolve_inside

SECRET = "root:x:0:0:secret-line"


@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "allowed"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "data.csv").write_text("text,label\ngood,positive\n")
    outside = tmp_path / "secret.txt"
    outside.write_text(SECRET + "\n")
    (root / "link-out.csv").symlink_to(outside)
    (root / "link-in.csv").symlink_to(root / "sub" / "data.csv")
    return root, outside


def test_a_file_inside_the_root_resolves(layout):
    root, _ = layout
    assert resolve_inside(root / "sub" / "data.csv", [root]) == (root / "sub" / "data.csv").resolve()
    assert resolve_inside("sub/data.csv", [root], base=root) == (root / "sub" / "data.csv").resolve()
    assert resolve_inside(root / "link-in.csv", [root]) == (root / "sub" / "data.csv").resolve()


@pytest.mark.parametrize(
    "probe",
    [
        "/etc/passwd",
        "/etc/shadow",
        "{root}/../secret.txt",
        "{root}/sub/../../secret.txt",
        "{root}/link-out.csv",
        "file:///etc/passwd",
        "file://{root}/sub/data.csv",
        "~/.bashrc",
        "~root/.profile",
        "{root}",
        "{root}/sub",
        "{root}/missing.csv",
        "",
        "   ",
        "a\x00b",
        "https://example.com/data.csv",
    ],
)
def test_probes_are_refused_without_contents(layout, probe):
    root, outside = layout
    raw = probe.format(root=root)
    with pytest.raises(PathRefused) as refused:
        resolve_inside(raw, [root])
    message = str(refused.value)
    assert SECRET not in message and "root:x" not in message
    assert message  # a clear reason, not an empty error


def test_a_missing_root_allows_nothing(tmp_path, layout):
    _, outside = layout
    with pytest.raises(PathRefused):
        resolve_inside(outside, [tmp_path / "no-such-root"])


def test_a_symlinked_root_is_followed_once(tmp_path, layout):
    root, _ = layout
    alias = tmp_path / "alias"
    os.symlink(root, alias)
    assert resolve_inside(alias / "sub" / "data.csv", [alias]) == (root / "sub" / "data.csv").resolve()
