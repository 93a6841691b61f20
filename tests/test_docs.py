"""Every code block of README.md and docs/ runs as written, on data the blocks make themselves.

A file's blocks run in order in a fresh folder, with the project's environment first on
PATH (as after ``source .venv/bin/activate``) and a temporary MLflow store in
``$MLFLOW_TRACKING_URI``: consecutive Python blocks share one interpreter (a session, as in
a notebook), a shell block runs in bash with ``set -e``. A block preceded by the comment
``<!-- not run: why -->`` is skipped, and says why (a server that runs until Ctrl-C, the
test suite itself); a block tagged ``toml`` or untagged is text, not code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"(?P<skip><!-- not run: [^>]*-->\s*\n)?^```(?P<lang>python|bash)\n(?P<code>.*?)^```",
    re.M | re.S,
)

pytestmark = pytest.mark.integration


def runs(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, first line) of the blocks to run, consecutive Python blocks joined."""
    out: list[tuple[str, str, int]] = []
    text = path.read_text()
    for m in FENCE.finditer(text):
        if m["skip"]:
            continue
        line = text.count("\n", 0, m.start("code")) + 1
        if out and m["lang"] == "python" and out[-1][0] == "python":
            out[-1] = ("python", out[-1][1] + "\n" + m["code"], out[-1][2])
        else:
            out.append((m["lang"], m["code"], line))
    return out


def test_the_runner_finds_blocks_and_skips_what_says_why() -> None:
    readme = runs(ROOT / "README.md")
    assert [lang for lang, _, _ in readme][:2] == ["python", "bash"]
    skipped = re.findall(r"<!-- not run: ([^>]*)-->\s*\n```", (ROOT / "README.md").read_text())
    assert skipped and all(len(why.strip()) > 10 for why in skipped)


@pytest.mark.parametrize("doc", [d for d in DOCS if runs(d)], ids=lambda d: d.name)
def test_the_code_blocks_run_as_written(doc: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}",
        # as in a fresh shell: not the registry an earlier test in this process pointed at
        "MLFLOW_REGISTRY_URI": f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}",
        "MPLBACKEND": "Agg",
    }
    for i, (lang, code, line) in enumerate(runs(doc)):
        if lang == "python":
            command = [sys.executable, "-c", code]
        else:
            command = ["bash", "-e", "-o", "pipefail", "-c", code]
        proc = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, (
            f"{doc.name}, block {i + 1} (line {line}) failed:\n{proc.stderr[-3000:]}"
        )
