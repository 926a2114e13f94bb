"""infra/deploy.sh against a stand-in `az` that records every call and answers like the real CLI.

There is no Azure here; this proves the script's own logic: the order of the steps, the outputs of
main.bicep flowing into subscription.bicep, one deployment per watched subscription, role-only
subscriptions, the retry while roles propagate, and clear refusals of bad input.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "infra" / "deploy.sh"
MAIN_SUB = "11111111-1111-1111-1111-111111111111"
WATCHED = "22222222-2222-2222-2222-222222222222"
TARGETS = "33333333-3333-3333-3333-333333333333"
APP_ID = f"/subscriptions/{MAIN_SUB}/resourceGroups/rg-mpe/providers/Microsoft.Web/sites/func-mpe-x"
STORAGE_ID = f"/subscriptions/{MAIN_SUB}/resourceGroups/rg-mpe/providers/Microsoft.Storage/storageAccounts/stmpex"

# Outputs of main.bicep as `az deployment group show -o tsv --query "[properties.outputs.<name>.value, ...]"`
# prints them: one value per line, in the order asked.
FAKE_AZ = f"""#!/usr/bin/env bash
echo "$*" >> "$AZ_LOG"
case "$*" in
  "account show"*) echo {MAIN_SUB} ;;
  "deployment group show"*)
    # One query for every output, answered as tsv: one value per line in the order asked.
    for name in $(echo "$*" | grep -o 'outputs\\.[A-Za-z]*' | cut -d. -f2); do
      case "$name" in
        functionAppName) echo func-mpe-x ;;
        functionAppId) echo {APP_ID} ;;
        identityPrincipalId) echo aaaaaaaa-0000-0000-0000-000000000001 ;;
        storageAccountId) echo {STORAGE_ID} ;;
        deadLetterContainerName) echo eventgrid-deadletter ;;
        functionAppHostName) echo func-mpe-x.azurewebsites.net ;;
      esac
    done ;;
  "functionapp deployment source config-zip"*)
    # Fails the first time, as a fresh role assignment on the deployment storage does.
    if [ ! -f "$AZ_LOG.zipped" ]; then touch "$AZ_LOG.zipped"; echo "BlobUploadFailed 403" >&2; exit 1; fi ;;
esac
exit 0
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(0o755)
    sleep = bin_dir / "sleep"  # no real waiting between retries
    sleep.write_text("#!/bin/sh\nexit 0\n")
    sleep.chmod(0o755)
    package = tmp_path / "app.zip"
    package.write_bytes(b"PK\x05\x06" + bytes(18))
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AZ_LOG": str(tmp_path / "az.log"),
        "PACKAGE": str(package),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEPLOY), *args], env=env, capture_output=True, text=True, timeout=60)


def calls(env: dict[str, str]) -> list[str]:
    return Path(env["AZ_LOG"]).read_text().splitlines()


def test_full_deployment(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", env["PACKAGE"], "--watch", MAIN_SUB,
            "--watch", WATCHED, "--targets-only", TARGETS, "-p", "dryRun=true")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    shows = [c for c in log if c.startswith("deployment group show")]
    assert len(shows) == 1, "main.bicep's outputs are read in one call"
    steps = [c for c in log if not c.startswith("deployment group show")]
    assert steps[0] == "account show --query id -o tsv"
    assert steps[1].startswith(f"group create --subscription {MAIN_SUB} --name rg-mpe --location westeurope")
    main = steps[2]
    assert main.startswith(f"deployment group create --subscription {MAIN_SUB} --resource-group rg-mpe")
    assert f"--template-file {REPO}/infra/main.bicep --parameters dryRun=true" in main
    zips = [c for c in steps if c.startswith("functionapp deployment source config-zip")]
    assert len(zips) == 2, "the failed upload is retried once"
    assert f"--name func-mpe-x --src {env['PACKAGE']}" in zips[1]
    subs = [shlex.split(c) for c in steps if c.startswith("deployment sub create")]
    assert [s[s.index("--subscription") + 1] for s in subs] == [MAIN_SUB, WATCHED, TARGETS]
    for s, watch in zip(subs, ["true", "true", "false"]):
        assert f"{REPO}/infra/subscription.bicep" in s
        assert f"functionAppId={APP_ID}" in s
        assert "identityPrincipalId=aaaaaaaa-0000-0000-0000-000000000001" in s
        assert f"deadLetterStorageAccountId={STORAGE_ID}" in s
        assert f"watchEvents={watch}" in s
    # The code is deployed before any event subscription is created (MpeEvent must exist).
    assert log.index(next(c for c in log if c.startswith("functionapp"))) < log.index(
        next(c for c in log if c.startswith("deployment sub create")))
    assert "func-mpe-x.azurewebsites.net" in r.stdout


def test_defaults_watch_the_approvers_own_subscription(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code")
    assert r.returncode == 0, r.stderr
    subs = [c for c in calls(env) if c.startswith("deployment sub create")]
    assert len(subs) == 1 and f"--subscription {MAIN_SUB}" in subs[0] and "watchEvents=true" in subs[0]
    assert not any(c.startswith("functionapp") for c in calls(env))


@pytest.mark.parametrize(
    "args, message",
    [
        (["-l", "westeurope"], "--resource-group is required"),
        (["-g", "rg"], "--location is required"),
        (["-g", "rg", "-l", "x", "--skip-code", "--watch", "not-a-guid"], "not-a-guid is not a subscription id"),
        (["-g", "rg", "-l", "x", "--skip-code", "-p", "dryRun"], "expected key=value"),
        (["-g", "rg", "-l", "x", "--package", "/nonexistent.zip"], "build it with infra/package.sh"),
        (["-g", "rg", "-l", "x", "--bogus"], "unknown argument --bogus"),
    ],
)
def test_bad_input_is_refused_before_touching_azure(env, args, message):
    r = run(env, *args)
    assert r.returncode != 0
    assert message in r.stderr
    assert not Path(env["AZ_LOG"]).exists() or not any("create" in c for c in calls(env))
