"""The wheel carries every package and data file under src/ (packages are discovered, so a new
port needs no pyproject edit), and the license the metadata names."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DATA_SUFFIXES = {".sql", ".mako", ".html", ".js", ".typed"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Built as a user would, in an isolated build environment, from the checkout.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("townsquare-*.whl")
    return zipfile.ZipFile(built)


def _shipped(path: Path) -> bool:
    return "__pycache__" not in path.parts


def test_every_package_and_data_file_under_src_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {
        "townsquare/" + path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*")
        if path.is_file() and _shipped(path) and (path.suffix == ".py" or path.suffix in DATA_SUFFIXES)
    }
    missing = sorted(expected - names)
    assert not missing, f"missing from the wheel: {missing}"


def test_the_wheel_names_the_mit_license_and_carries_its_text(wheel: zipfile.ZipFile) -> None:
    metadata = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    text = wheel.read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert any(name.endswith("licenses/LICENSE") for name in wheel.namelist())
