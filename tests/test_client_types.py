"""courant.js's TypeScript declarations (courant.d.ts), checked by ``tsc --strict``: a
page that uses the client as documented type-checks, and each misuse is an error.

``tsc`` is Debian's ``node-typescript`` package; without it these tests are skipped,
unless ``COURANT_REQUIRE_TSC=1`` (CI installs it and sets that): then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tests" / "typescript"
OPTIONS = [
    "--strict", "--noEmit", "--target", "es2022", "--module", "es2022",
    "--moduleResolution", "node", "--lib", "es2022,dom",
]  # fmt: skip


def tsc(source: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("tsc")
    if found is None:
        if os.environ.get("COURANT_REQUIRE_TSC") == "1":
            pytest.fail("COURANT_REQUIRE_TSC=1 but tsc is missing (apt install node-typescript)")
        pytest.skip("tsc is missing (apt-get install node-typescript); these tests need it")
    return subprocess.run(
        [found, *OPTIONS, str(SOURCES / source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_page_using_the_client_as_documented_type_checks():
    result = tsc("sync.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_misuse_of_the_declarations_is_a_type_error():
    result = tsc("misuse.ts")
    assert result.returncode != 0
    lines = sorted({int(n) for n in re.findall(r"misuse\.ts\((\d+),\d+\): error", result.stdout)})
    source = (SOURCES / "misuse.ts").read_text().splitlines()
    marked = [number for number, line in enumerate(source, 1) if "// error:" in line]
    assert lines == marked, result.stdout
