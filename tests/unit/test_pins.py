"""The install's pins agree: every package requirements*.txt pin is pinned to the same version in constraints.txt
(pip refuses a clash only at install time, as a resolver error), and every requirement line is an exact pin."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s#;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact pin: {line!r}"
        found[canonical(match[1])] = match[3]
    return found


def test_every_requirement_is_pinned_as_the_constraints_pin_it():
    constraints = pins(ROOT / "constraints.txt")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, version in pins(ROOT / name).items():
            assert constraints.get(package) == version, f"{name} pins {package}=={version}, constraints.txt " \
                f"{constraints.get(package)}: regenerate constraints.txt (pip freeze) after installing"


def test_the_torch_install_sh_installs_first_is_the_one_pinned():
    constraints = pins(ROOT / "constraints.txt")
    first = re.search(r'pip install --quiet "torch==([^"]+)"', (ROOT / "install.sh").read_text(encoding="utf-8"))
    assert first and first[1] == constraints["torch"] == pins(ROOT / "requirements.txt")["torch"]
