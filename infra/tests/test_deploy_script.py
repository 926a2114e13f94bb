"""infra/deploy.sh against a stand-in `az` that records every call and answers like the real CLI.

There is no Azure here; this proves the script's own logic: the order of the steps, the outputs of
main.bicep flowing into subscription.bicep, one deployment per watched subscription, role-only
subscriptions, the retry while roles propagate, and clear refusals of bad input.
"""

from __future__ import annotations

import os
import json
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
# prints them: one value per line, in the order asked. The other answers follow the CLI's documented
# shapes (tsv of the --query asked for); each test can change them through files in $AZ_DIR:
#   topics-<sub>         `az eventgrid system-topic list --query "[].[name, id, topicType, identity.type]" -o tsv`
#   eg-<sub>             registrationState of Microsoft.EventGrid (default Registered)
#   group-exists         "true" when the main resource group exists (default false)
#   group-tag            the main group's mpe-approver-instance tag
#   sub-create-error     stderr of a failing `deployment sub create`; sub-create-fails: how many times it fails
#   topics-error         stderr of a failing `az eventgrid system-topic list`
#   other-event-subs     names `az eventgrid system-topic event-subscription list` returns
FAKE_AZ = f"""#!/usr/bin/env bash
echo "$*" >> "$AZ_LOG"
d="$AZ_DIR"
sub_of() {{ echo "$*" | grep -o -- '--subscription [^ ]*' | head -1 | cut -d' ' -f2; }}
case "$*" in
  "account show"*) echo {MAIN_SUB} ;;
  "group exists"*) cat "$d/group-exists" 2>/dev/null || echo false ;;
  "group show"*) cat "$d/group-tag" 2>/dev/null || true ;;
  "functionapp list-flexconsumption-locations"*) printf 'eastus\\nnortheurope\\nwesteurope\\nswedencentral\\n' ;;
  "provider show"*) cat "$d/eg-$(sub_of "$*")" 2>/dev/null || echo Registered ;;
  "eventgrid system-topic list"*)
    if [ -f "$d/topics-error" ]; then cat "$d/topics-error" >&2; exit 1; fi
    cat "$d/topics-$(sub_of "$*")" 2>/dev/null || true ;;
  "eventgrid system-topic event-subscription list"*) cat "$d/other-event-subs" 2>/dev/null || true ;;
  "deployment group show"*outputResources*)
    echo {APP_ID}; echo {STORAGE_ID} ;;
  "deployment group show"*"identityPrincipalId.value -o"*) echo aaaaaaaa-0000-0000-0000-000000000001 ;;
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
  "deployment mg show"*)
    # managementgroup.bicep's outputs, tsv in the order asked (policyAssignmentId, policyDefinitionId, roleDefinitionId,
    # deployerRoleDefinitionId); none when $d/mg-none exists (never deployed there).
    [ -f "$d/mg-none" ] && exit 0
    mg=$(echo "$*" | grep -o -- '--management-group-id [^ ]*' | cut -d' ' -f2)
    echo "/providers/Microsoft.Management/managementGroups/$mg/providers/Microsoft.Authorization/policyAssignments/mpe-approver-watch"
    echo "/providers/Microsoft.Management/managementGroups/$mg/providers/Microsoft.Authorization/policyDefinitions/mpe-approver-watch"
    echo "/providers/Microsoft.Management/managementGroups/$mg/providers/Microsoft.Authorization/roleDefinitions/r-approver"
    echo "/providers/Microsoft.Management/managementGroups/$mg/providers/Microsoft.Authorization/roleDefinitions/r-deployer" ;;
  *"what-if"*) echo "Resource and property changes are indicated with these symbols:"; echo "  + Create" ;;
  "deployment sub create"*)
    if [ -f "$d/sub-create-error" ]; then
      n=$(cat "$d/sub-create-count" 2>/dev/null || echo 0); echo $((n + 1)) > "$d/sub-create-count"
      if [ "$n" -lt "$(cat "$d/sub-create-fails" 2>/dev/null || echo 99)" ]; then cat "$d/sub-create-error" >&2; exit 1; fi
    fi ;;
  "functionapp deployment source config-zip"*)
    # Fails the first time, as a fresh role assignment on the deployment storage does.
    if [ ! -f "$AZ_LOG.zipped" ]; then touch "$AZ_LOG.zipped"; echo "ERROR: BlobUploadFailed 403 (storage)" >&2; exit 1; fi ;;
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
    az_dir = tmp_path / "az"
    az_dir.mkdir()
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AZ_LOG": str(tmp_path / "az.log"),
        "AZ_DIR": str(az_dir),
        "PACKAGE": str(package),
    }


def az_state(env: dict[str, str], name: str, text: str) -> None:
    (Path(env["AZ_DIR"]) / name).write_text(text)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # No terminal (stdin is /dev/null), as in a pipeline: the tests pass --yes unless they test its absence.
    return subprocess.run([str(DEPLOY), *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def calls(env: dict[str, str]) -> list[str]:
    p = Path(env["AZ_LOG"])
    return p.read_text().splitlines() if p.exists() else []


def changes(env: dict[str, str]) -> list[str]:
    """The az calls that change something."""
    verbs = ("create", "delete", "register", "config-zip")
    return [c for c in calls(env) if any(f" {v} " in f" {c} " or c.startswith(v) for v in verbs) and "what-if" not in c]


def test_full_deployment(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", env["PACKAGE"], "--watch", MAIN_SUB,
            "--watch", WATCHED, "--targets-only", TARGETS, "-p", "dryRun=true", "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    shows = [c for c in log if c.startswith("deployment group show")]
    assert len(shows) == 1, "main.bicep's outputs are read in one call"
    steps = [c for c in log if not c.startswith("deployment group show")]
    assert steps[0] == "account show --query id -o tsv"
    assert steps[1].startswith("functionapp list-flexconsumption-locations")
    assert steps[2] == f"group exists --subscription {MAIN_SUB} --name rg-mpe"
    assert steps[3].startswith(f"group create --subscription {MAIN_SUB} --name rg-mpe --location westeurope")
    assert "--tags mpe-approver-instance=default" in steps[3]
    main = steps[4]
    assert main.startswith(f"deployment group create --subscription {MAIN_SUB} --resource-group rg-mpe "
                           "--name mpe-approver-main")
    assert f"--template-file {REPO}/infra/main.bicep --parameters dryRun=true allowRules=" in main
    zips = [c for c in steps if c.startswith("functionapp deployment source config-zip")]
    assert len(zips) == 2, "the failed upload (storage 403 after the role assignment) is retried once"
    assert f"--name func-mpe-x --src {env['PACKAGE']}" in zips[1]
    subs = [shlex.split(c) for c in steps if c.startswith("deployment sub create")]
    assert [s[s.index("--subscription") + 1] for s in subs] == [MAIN_SUB, WATCHED, TARGETS]
    for s, watch in zip(subs, ["true", "true", "false"]):
        assert s[s.index("--name") + 1] == "mpe-approver-subscription"
        assert f"{REPO}/infra/subscription.bicep" in s
        assert f"functionAppId={APP_ID}" in s
        assert "identityPrincipalId=aaaaaaaa-0000-0000-0000-000000000001" in s
        assert f"deadLetterStorageAccountId={STORAGE_ID}" in s
        assert f"watchEvents={watch}" in s
        assert "instanceName=default" in s
        assert not any(a.startswith("useExistingSystemTopic") for a in s), "no topic to adopt here"
    # The code is deployed before any event subscription is created (MpeEvent must exist).
    assert log.index(next(c for c in log if c.startswith("functionapp deployment"))) < log.index(
        next(c for c in log if c.startswith("deployment sub create")))
    # Every deployment is preceded by its what-if.
    for i, c in enumerate(log):
        if c.startswith("deployment sub create"):
            assert log[i - 1].startswith("deployment sub what-if")
            assert log[i - 1].split(" ", 3)[3] + " --output none" == c.split(" ", 3)[3], "the what-if shows this deployment"
    assert "func-mpe-x.azurewebsites.net" in r.stdout


def test_defaults_watch_the_approvers_own_subscription(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    subs = [c for c in calls(env) if c.startswith("deployment sub create")]
    assert len(subs) == 1 and f"--subscription {MAIN_SUB}" in subs[0] and "watchEvents=true" in subs[0]
    assert not any(c.startswith("functionapp deployment") for c in calls(env))


@pytest.mark.parametrize(
    "args, message",
    [
        (["-l", "westeurope"], "--resource-group is required"),
        (["-g", "rg"], "--location is required"),
        (["-g", "rg", "-l", "x", "--skip-code", "--watch", "not-a-guid"], "not-a-guid is not a subscription id"),
        (["-g", "rg", "-l", "x", "--skip-code", "-p", "dryRun"], "expected key=value"),
        (["-g", "rg", "-l", "x", "--package", "/nonexistent.zip"], "build it with infra/package.sh"),
        (["-g", "rg", "-l", "x", "--bogus"], "unknown argument --bogus"),
        (["-g", "rg", "-l", "x", "--skip-code", "--instance", "Prod_1"], "--instance Prod_1"),
        (["-g", "rg", "-l", "x", "--skip-code", "-p", "instanceName=b"], "use --instance"),
        (["-g", "rg", "-l", "x", "--skip-code", "--allow", "/subscriptions/a"], "--allow /subscriptions/a"),
        (["-g", "rg", "-l", "x", "--skip-code", "--allow", "same-subscription", "-p", "allowRules=x"], "do not mix"),
        (["-g", "rg", "-l", "x", "--package", "https://example.invalid/mpe-approver.zip"], "pass its --sha256"),
        (["-g", "rg", "-l", "x", "--skip-code", "--sha256", "abc"], "expected 64 hex digits"),
        (["-g", "rg", "-l", "x", "--skip-code", "--management-group", "Platform Team"], "--management-group Platform Team"),
        (["-g", "rg", "-l", "x", "--skip-code", "--management-group", "mg."], "--management-group mg."),
        (["-g", "rg", "-l", "x", "--skip-code", "--management-group", "a/../b"], "--management-group a/../b"),
    ],
)
def test_bad_input_is_refused_before_touching_azure(env, args, message):
    r = run(env, *args, "--yes")
    assert r.returncode != 0
    assert message in r.stderr
    assert calls(env) == []


# --- confirmation ---------------------------------------------------------------------------------


def test_without_a_terminal_and_without_yes_it_stops_at_once(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code")
    assert r.returncode != 0
    assert "no terminal to confirm" in r.stderr and "--yes" in r.stderr
    assert calls(env) == [], "nothing is asked of Azure"


def run_on_terminal(env: dict[str, str], answer: str, *args: str) -> tuple[int, str]:
    """deploy.sh with a pseudo-terminal as stdin, answering the first confirmation with `answer`."""
    import pty

    master, slave = pty.openpty()
    os.write(master, (answer + "\n").encode())
    try:
        p = subprocess.run([str(DEPLOY), *args], env=env, stdin=slave, capture_output=True, text=True, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return p.returncode, p.stderr


def test_the_what_if_is_confirmed_on_a_terminal(env):
    az_state(env, "group-exists", "true")
    code, err = run_on_terminal(env, "n", "-g", "rg-mpe", "-l", "westeurope", "--skip-code")
    assert code != 0 and "not confirmed" in err
    log = calls(env)
    assert any(c.startswith("deployment group what-if") for c in log)
    assert changes(env) == [], f"a refused what-if changes nothing: {changes(env)}"


def test_yes_on_a_terminal_deploys(env):
    az_state(env, "group-exists", "true")
    # One answer per confirmation: main.bicep and the one subscription.
    code, err = run_on_terminal(env, "y\ny", "-g", "rg-mpe", "-l", "westeurope", "--skip-code")
    assert code == 0, err
    assert sum(c.startswith("deployment sub create") for c in calls(env)) == 1


# --- region -----------------------------------------------------------------------------------------


def test_a_region_without_flex_consumption_is_refused(env):
    r = run(env, "-g", "rg-mpe", "-l", "Japan West", "--skip-code", "--yes")
    assert r.returncode != 0 and "Flex Consumption is not offered in Japan West" in r.stderr
    assert changes(env) == []


def test_region_names_compare_like_azure(env):
    r = run(env, "-g", "rg-mpe", "-l", "West Europe", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr


# --- retries ----------------------------------------------------------------------------------------


def test_a_400_is_not_retried(env):
    az_state(env, "sub-create-error", "ERROR: (InvalidTemplate) Deployment template validation failed: 400 Bad Request\n")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode != 0
    assert "not retried" in r.stderr and "InvalidTemplate" in r.stderr
    assert sum(c.startswith("deployment sub create") for c in calls(env)) == 1


def test_a_429_is_retried(env):
    az_state(env, "sub-create-error", "ERROR: (TooManyRequests) 429: too many requests, retry later\n")
    az_state(env, "sub-create-fails", "1")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    assert sum(c.startswith("deployment sub create") for c in calls(env)) == 2
    assert "transient error; retrying" in r.stderr


@pytest.mark.parametrize("error", ["ERROR: (ServiceUnavailable) 503", "ERROR: (Conflict) 409 AnotherOperationInProgress",
                                   "ERROR: (Endpoint validation) Destination endpoint not found."])
def test_transient_errors_are_retried_until_the_attempts_run_out(env, error):
    az_state(env, "sub-create-error", error + "\n")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode != 0 and "still failing after 3 attempts" in r.stderr
    assert sum(c.startswith("deployment sub create") for c in calls(env)) == 3


def test_an_existing_role_conflict_is_not_retried(env):
    az_state(env, "sub-create-error", "ERROR: (RoleDefinitionWithSameNameExists) 409 Conflict\n")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode != 0 and "not retried" in r.stderr
    assert sum(c.startswith("deployment sub create") for c in calls(env)) == 1


# --- system topic and resource provider -------------------------------------------------------------


def topic_row(name: str, rg: str, sub: str, identity: str = "SystemAssigned",
              type_: str = "Microsoft.Resources.Subscriptions") -> str:
    tid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.EventGrid/systemTopics/{name}"
    return f"{name}\t{tid}\t{type_}\t{identity}\n"


def test_an_existing_system_topic_is_adopted(env):
    az_state(env, f"topics-{WATCHED}",
             topic_row("stg-events", "rg-x", WATCHED, type_="Microsoft.Storage.StorageAccounts")
             + topic_row("defender-subscription-topic", "rg-security", WATCHED, type_="microsoft.resources.subscriptions"))
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--watch", MAIN_SUB, "--watch", WATCHED, "--yes")
    assert r.returncode == 0, r.stderr
    assert any(c.startswith(f"eventgrid system-topic list --subscription {WATCHED}") for c in calls(env))
    subs = {s[s.index("--subscription") + 1]: s for s in
            (shlex.split(c) for c in calls(env) if c.startswith("deployment sub create"))}
    adopted = subs[WATCHED]
    assert "useExistingSystemTopic=true" in adopted
    assert "existingSystemTopicName=defender-subscription-topic" in adopted
    assert "eventsResourceGroupName=rg-security" in adopted
    assert not any(a.startswith("useExistingSystemTopic") for a in subs[MAIN_SUB]), "no topic there: one is created"
    assert "adopting the existing defender-subscription-topic in rg-security" in r.stdout


def test_the_instances_own_topic_is_not_adopted(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("mpe-approver-subscription-events", "rg-mpe-approver-events", MAIN_SUB))
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    sub = next(c for c in calls(env) if c.startswith("deployment sub create"))
    assert "useExistingSystemTopic" not in sub, "its own topic stays managed by the template"


def test_an_adopted_topic_without_identity_is_refused_with_the_fix(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("other", "rg-other", MAIN_SUB, identity="None"))
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode != 0 and "--identity systemassigned" in r.stderr
    assert not any(c.startswith("deployment sub create") for c in calls(env))


def test_a_failing_topic_lookup_stops_instead_of_guessing(env):
    az_state(env, "topics-error", "ERROR: (AuthorizationFailed) 403\n")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode != 0 and "could not list the Event Grid system topics" in r.stderr
    assert not any(c.startswith("deployment sub create") for c in calls(env))


def test_event_grid_is_registered_where_needed(env):
    az_state(env, f"eg-{WATCHED}", "NotRegistered")
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--watch", MAIN_SUB, "--watch", WATCHED, "--yes")
    assert r.returncode == 0, r.stderr
    registers = [c for c in calls(env) if c.startswith("provider register")]
    assert registers == [f"provider register --subscription {WATCHED} --namespace Microsoft.EventGrid --wait --output none"]
    assert f"registering the Microsoft.EventGrid resource provider in {WATCHED}" in r.stdout
    log = calls(env)
    assert log.index(registers[0]) < log.index(next(c for c in log if c.startswith(f"deployment sub create --subscription {WATCHED}")))


# --- instances --------------------------------------------------------------------------------------


def names_used(env: dict[str, str]) -> set[str]:
    """Every deployment name and instance-scoped parameter value deploy.sh sent."""
    out = set()
    for c in calls(env):
        a = shlex.split(c)
        if a[:2] in (["deployment", "group"], ["deployment", "sub"]) and a[2] in ("create", "what-if"):
            out.add("deployment:" + a[a.index("--name") + 1])
            out.update(x for x in a if x.startswith("instanceName="))
    return out


def test_two_instances_share_no_name(env, tmp_path):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    first = names_used(env)
    Path(env["AZ_LOG"]).unlink()
    r = run(env, "-g", "rg-mpe-staging", "-l", "westeurope", "--skip-code", "--instance", "staging", "--yes")
    assert r.returncode == 0, r.stderr
    second = names_used(env)
    assert first == {"deployment:mpe-approver-main", "deployment:mpe-approver-subscription", "instanceName=default"}
    assert second == {"deployment:mpe-approver-staging-main", "deployment:mpe-approver-staging-subscription",
                      "instanceName=staging"}
    assert not first & second


def test_two_instances_in_templates_share_no_resource_role_or_guid_name():
    """Each instance-scoped name in the Bicep, evaluated for two instance names the way Bicep would."""
    import re

    sub = (REPO / "infra" / "subscription.bicep").read_text()
    pattern = re.compile(r"instanceName == 'default' \? (.+?) : (.+?)$", re.MULTILINE)
    pairs = pattern.findall(sub) + pattern.findall((REPO / "infra" / "main.bicep").read_text()) + pattern.findall(
        (REPO / "infra" / "modules" / "events.bicep").read_text())
    assert len(pairs) >= 8
    for default, other in pairs:
        # The non-default branch names the instance, so "a" and "b" give different names, and neither equals
        # the default branch (which is the name of the release before instances existed).
        assert "instanceName" in other, other
        a, b = (other.replace("${instanceName}", v).replace("instanceName", f"'{v}'") for v in ("a", "b"))
        assert a != b and a != default and b != default, other
        # Names that Azure limits to 64 characters (deployments, event subscriptions) stay within it for the
        # longest instance name (20) and the longest expansion of the functions used.
        longest = other.replace("${instanceName}", "x" * 20).replace("${subscription().subscriptionId}", "0" * 36)
        longest = longest.replace("${uniqueString(subscription().id)}", "u" * 13)
        if longest.startswith("'") and longest.endswith("'") and "(" not in longest:  # a plain string name
            assert len(longest.strip("'")) <= 64, longest


# --- allow rules ------------------------------------------------------------------------------------


def main_param(env: dict[str, str], key: str) -> str:
    main = shlex.split(next(c for c in calls(env) if c.startswith("deployment group create")))
    values = [a.split("=", 1)[1] for a in main if a.startswith(key + "=")]
    assert len(values) == 1, main
    return values[0]


def test_targets_only_become_allow_rules(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--watch", MAIN_SUB, "--watch", WATCHED,
            "--targets-only", TARGETS, "--allow", "*->/subscriptions/" + TARGETS + "/resourceGroups/shared", "--yes")
    assert r.returncode == 0, r.stderr
    rules = main_param(env, "allowRules").split(",")
    assert rules == [
        "same-subscription",
        f"/subscriptions/{MAIN_SUB}->/subscriptions/{WATCHED}",
        f"/subscriptions/{MAIN_SUB}->/subscriptions/{TARGETS}",
        f"/subscriptions/{WATCHED}->/subscriptions/{MAIN_SUB}",
        f"/subscriptions/{WATCHED}->/subscriptions/{TARGETS}",
        f"*->/subscriptions/{TARGETS}/resourceGroups/shared",
    ]


def test_one_subscription_allows_same_subscription_only(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    assert main_param(env, "allowRules") == "same-subscription"


def test_allow_rules_given_as_a_parameter_are_kept(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--targets-only", TARGETS,
            "-p", "allowRules=*->*", "--yes")
    assert r.returncode == 0, r.stderr
    assert main_param(env, "allowRules") == "*->*"


def raw_main_param(env: dict[str, str], key: str) -> str:
    """A main.bicep parameter as deploy.sh passed it (the log joins the words with spaces, so no shlex: a JSON
    value keeps its quotes)."""
    main = next(c for c in calls(env) if c.startswith("deployment group create")).split(" ")
    values = [a.split("=", 1)[1] for a in main if a.startswith(key + "=")]
    assert len(values) == 1, main
    return values[0]


def test_the_sweep_covers_the_watched_subscriptions(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--watch", MAIN_SUB, "--watch", WATCHED,
            "--targets-only", TARGETS, "--yes")
    assert r.returncode == 0, r.stderr
    assert json.loads(raw_main_param(env, "sweepScopes")) == [f"/subscriptions/{MAIN_SUB}", f"/subscriptions/{WATCHED}"]


def test_the_sweep_defaults_to_the_approvers_subscription(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--yes")
    assert r.returncode == 0, r.stderr
    assert json.loads(raw_main_param(env, "sweepScopes")) == [f"/subscriptions/{MAIN_SUB}"]


def test_sweep_scopes_given_as_a_parameter_are_kept(env):
    scopes = f'["/subscriptions/{WATCHED}/resourceGroups/data"]'
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "-p", f"sweepScopes={scopes}", "--yes")
    assert r.returncode == 0, r.stderr
    assert raw_main_param(env, "sweepScopes") == scopes


# --- role opt-in ------------------------------------------------------------------------------------


def test_role_opt_in_passes_the_opt_in_actions(env):
    import json

    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--role-opt-in", "--yes")
    assert r.returncode == 0, r.stderr
    sub = next(c for c in calls(env) if c.startswith("deployment sub create"))  # as az got it, quotes and all
    value = sub.split("additionalRoleActions=", 1)[1].split("]", 1)[0] + "]"
    expected = json.loads((REPO / "infra" / "generated" / "role-opt-in.json").read_text())["Actions"]
    assert json.loads(value) == expected


# --- the package: path or URL, with a checksum ------------------------------------------------------


def sha(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_package_with_the_right_checksum_is_deployed(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", env["PACKAGE"], "--sha256", sha(env["PACKAGE"]).upper(),
            "--yes")
    assert r.returncode == 0, r.stderr
    assert "package checksum ok" in r.stdout


def test_a_package_with_a_wrong_checksum_is_refused_before_azure(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", env["PACKAGE"], "--sha256", "0" * 64, "--yes")
    assert r.returncode != 0 and "checksum mismatch" in r.stderr
    assert calls(env) == []


def test_a_release_url_is_downloaded_and_checked(env):
    url = Path(env["PACKAGE"]).as_uri()  # file://: curl fetches it like an https release asset
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", url, "--sha256", sha(env["PACKAGE"]), "--yes")
    assert r.returncode == 0, r.stderr
    zips = [shlex.split(c) for c in calls(env) if c.startswith("functionapp deployment source config-zip")]
    src = zips[-1][zips[-1].index("--src") + 1]
    assert src.endswith("/mpe-approver.zip") and src != env["PACKAGE"], "the downloaded copy is deployed"
    assert not Path(src).exists(), "the download is cleaned up"


def test_a_downloaded_package_with_a_wrong_checksum_is_refused(env):
    url = Path(env["PACKAGE"]).as_uri()
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", url, "--sha256", "f" * 64, "--yes")
    assert r.returncode != 0 and "checksum mismatch" in r.stderr
    assert calls(env) == []


def test_an_unreachable_url_fails_clearly(env, tmp_path):
    url = (tmp_path / "missing.zip").as_uri()
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--package", url, "--sha256", "f" * 64, "--yes")
    assert r.returncode != 0 and "could not download" in r.stderr


# --- uninstall --------------------------------------------------------------------------------------


def test_uninstall_never_removes_an_adopted_topic(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("defender-topic", "rg-security", MAIN_SUB))
    r = run(env, "-g", "rg-mpe", "--uninstall", "--targets-only", TARGETS, "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    assert (f"eventgrid system-topic event-subscription delete --subscription {MAIN_SUB} --resource-group rg-security "
            "--system-topic-name defender-topic --name mpe-approver --yes --output none") in log
    assert not any(c.startswith("group delete") and "rg-security" in c for c in log)
    assert not any("system-topic delete" in c for c in log)
    assert "kept the adopted system topic defender-topic" in r.stdout
    for sub in (MAIN_SUB, TARGETS):
        assert any(c.startswith(f"role definition delete --subscription {sub} --name MPE Approver ({sub})") for c in log)
        assert any(c.startswith(f"role assignment delete --subscription {sub} --assignee aaaaaaaa-") for c in log)
    # The main group was not created by deploy.sh (no tag): only the deployment's resources go.
    assert not any(c.startswith(f"group delete --subscription {MAIN_SUB} --name rg-mpe ") for c in log)
    deletes = [c for c in log if c.startswith("resource delete")]
    assert any(APP_ID in c for c in deletes) and any(STORAGE_ID in c for c in deletes)


def test_uninstall_removes_its_own_topic_and_group(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("mpe-approver-subscription-events", "rg-mpe-approver-events", MAIN_SUB))
    az_state(env, "group-tag", "default")
    r = run(env, "-g", "rg-mpe", "--uninstall", "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    assert f"group delete --subscription {MAIN_SUB} --name rg-mpe-approver-events --yes --output none" in log
    assert f"group delete --subscription {MAIN_SUB} --name rg-mpe --yes --output none" in log


def test_uninstall_keeps_its_topic_while_another_instance_uses_it(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("mpe-approver-subscription-events", "rg-mpe-approver-events", MAIN_SUB))
    az_state(env, "other-event-subs", "mpe-approver-staging\n")
    r = run(env, "-g", "rg-mpe", "--uninstall", "--yes")
    assert r.returncode == 0, r.stderr
    assert not any("rg-mpe-approver-events" in c and c.startswith("group delete") for c in calls(env))
    assert "other event subscriptions use it" in r.stdout


def test_uninstall_of_a_second_instance_touches_only_its_names(env):
    az_state(env, f"topics-{MAIN_SUB}", topic_row("mpe-approver-subscription-events", "rg-mpe-approver-events", MAIN_SUB))
    r = run(env, "-g", "rg-mpe-staging", "--uninstall", "--instance", "staging", "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    assert any("event-subscription delete" in c and "--name mpe-approver-staging " in c for c in log)
    assert not any(c.startswith("group delete") and "rg-mpe-approver-events" in c for c in log), \
        "the default instance's topic is adopted from staging's point of view"
    assert any(c.startswith(f"role definition delete --subscription {MAIN_SUB} --name MPE Approver staging ({MAIN_SUB})")
               for c in log)


def test_targets_only_subscriptions_get_no_event_grid_calls(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--targets-only", TARGETS, "--yes")
    assert r.returncode == 0, r.stderr
    assert not any(TARGETS in c for c in calls(env) if c.startswith(("provider", "eventgrid")))


def test_uninstall_needs_a_confirmation_too(env):
    r = run(env, "-g", "rg-mpe", "--uninstall")
    assert r.returncode != 0 and "no terminal" in r.stderr
    assert calls(env) == []


# --- management groups (issue 22) -------------------------------------------------------------------

MG = "platform"
MG_SCOPE = f"/providers/Microsoft.Management/managementGroups/{MG}"


def test_a_management_group_is_deployed_with_the_main_outputs_and_becomes_allow_rules(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--management-group", MG, "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    assert not any(c.startswith("deployment sub create") for c in log), "no subscription is watched one by one"
    creates = [shlex.split(c) for c in log if c.startswith("deployment mg create")]
    assert len(creates) == 1
    mg = creates[0]
    assert mg[mg.index("--management-group-id") + 1] == MG
    assert mg[mg.index("--name") + 1] == "mpe-approver-managementgroup"
    assert mg[mg.index("--location") + 1] == "westeurope"
    assert f"{REPO}/infra/managementgroup.bicep" in mg
    for p in [f"functionAppId={APP_ID}", "identityPrincipalId=aaaaaaaa-0000-0000-0000-000000000001",
              f"deadLetterStorageAccountId={STORAGE_ID}", "deadLetterContainerName=eventgrid-deadletter",
              "instanceName=default", "location=westeurope"]:
        assert p in mg, p
    i = log.index(next(c for c in log if c.startswith("deployment mg create")))
    assert log[i - 1].startswith("deployment mg what-if"), "the what-if first"
    assert main_param(env, "allowRules").split(",") == ["same-subscription", f"{MG_SCOPE}->{MG_SCOPE}"]
    assert not any(a.startswith("sweepScopes=") for a in shlex.split(
        next(c for c in log if c.startswith("deployment group create")))), "a group is not swept: the default stays"
    assert "az policy remediation create --management-group platform" in r.stdout
    assert "watching management groups: platform" in r.stdout


def test_a_management_group_beside_watched_subscriptions(env):
    r = run(env, "-g", "rg-mpe", "-l", "westeurope", "--skip-code", "--watch", WATCHED, "--targets-only", TARGETS,
            "--management-group", MG, "--yes")
    assert r.returncode == 0, r.stderr
    subs = [c for c in calls(env) if c.startswith("deployment sub create")]
    assert [s.split("--subscription ")[1].split()[0] for s in subs] == [WATCHED, TARGETS]
    assert main_param(env, "allowRules").split(",") == [
        "same-subscription",
        f"/subscriptions/{WATCHED}->{MG_SCOPE}",
        f"/subscriptions/{WATCHED}->/subscriptions/{TARGETS}",
        f"{MG_SCOPE}->/subscriptions/{WATCHED}",
        f"{MG_SCOPE}->{MG_SCOPE}",
        f"{MG_SCOPE}->/subscriptions/{TARGETS}",
    ]
    assert raw_main_param(env, "sweepScopes") == f'["/subscriptions/{WATCHED}"]'


def test_uninstall_removes_what_the_management_group_deployment_made(env):
    r = run(env, "-g", "rg-mpe", "--uninstall", "--management-group", MG, "--yes")
    assert r.returncode == 0, r.stderr
    log = calls(env)
    assert f"policy assignment delete --name mpe-approver-watch --scope {MG_SCOPE} --output none" in log
    assert f"policy definition delete --name mpe-approver-watch --management-group {MG} --output none" in log
    for role in ("r-approver", "r-deployer"):
        assert f"role assignment delete --scope {MG_SCOPE} --role {role} --output none" in log
        assert f"role definition delete --name {role} --scope {MG_SCOPE} --output none" in log
    assert not any(c.startswith("deployment sub") or "system-topic" in c for c in log), "no subscription named"


def test_uninstall_of_a_group_never_deployed_removes_nothing_there(env):
    az_state(env, "mg-none", "")
    r = run(env, "-g", "rg-mpe", "--uninstall", "--management-group", MG, "--yes")
    assert r.returncode == 0, r.stderr
    assert not any(c.startswith("policy ") or (c.startswith("role ") and MG_SCOPE in c) for c in calls(env))
    assert "no mpe-approver-managementgroup deployment there" in r.stderr
