"""The Connect side of tests/connect (the server is tests/conftest.py's `connect_server`); the tests'
own SparkSession stays classic. A Connect client switches the whole Python
process into Connect mode, so the Connect side of each test runs in a child process
(`python -m tests.connect.runner ...`), as a thin client would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_over_connect(remote: str, task: str, request: dict, folder: Path) -> dict:
    """Run `tests.connect.runner`'s `task` in a child process over `remote`: its answer as a dict."""
    request_file, answer_file = folder / f"{task}-request.json", folder / f"{task}-answer.json"
    request_file.write_text(json.dumps(request))
    done = subprocess.run(
        [sys.executable, "-m", "tests.connect.runner", remote, task, str(request_file), str(answer_file)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(answer_file.read_text())
