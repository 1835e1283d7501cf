"""Every standard way of building the wheel gives one that carries segspark's conf/ (issue 30, item 14).

`python -m build` builds the sdist first and the wheel from the unpacked sdist: what the sdist lacks,
the wheel lacks, and an installed console script then stops with "file not found". Built here from
a copy of the checkout's tracked files (what a fresh clone has), in the three usual ways.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

CONF = sorted(str(path.relative_to(REPO)) for path in (REPO / "conf").rglob("*") if path.is_file())


def clean_copy(target: Path) -> Path:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "build", "--outdir", "out"],  # the sdist, then the wheel from it
        [sys.executable, "-m", "build", "--wheel", "--outdir", "out"],
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", "out", "."],  # make dist
    ],
    ids=["build-sdist-then-wheel", "build-wheel", "pip-wheel"],
)
def test_every_build_path_gives_a_wheel_with_the_settings_and_formats(tmp_path, command):
    source = clean_copy(tmp_path / "checkout")
    done = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = (source / "out").glob("segspark-*.whl")
    packaged = sorted(
        "conf/" + name.split("segspark/conf/", 1)[1]
        for name in zipfile.ZipFile(wheel).namelist()
        if name.startswith("segspark/conf/")
    )
    assert len(CONF) >= 5 and packaged == CONF
