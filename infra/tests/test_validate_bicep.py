"""The Bicep validator passes the real infra/ and catches each kind of mistake it claims to catch.

Each mistake is made in a copy of the real infra/ folder, so these tests also prove the real files
are what the validator accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(INFRA))

from validate_bicep import validate  # noqa: E402


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.py"))
    return copy


def one_error_containing(errors: list[str], text: str) -> None:
    assert any(text in e for e in errors), f"no error mentions {text!r}; got {errors}"


def test_real_infra_passes():
    assert validate(INFRA) == []


def test_unlisted_api_version_fails(infra: Path):
    main = infra / "main.bicep"
    src = main.read_text()
    changed, n = re.subn(r"'(Microsoft\.ServiceBus/namespaces)@[0-9a-z-]+'", r"'\1@2099-01-01'", src, count=1)
    assert n == 1, "main.bicep declares a Service Bus namespace"
    main.write_text(changed)
    errors = validate(infra)
    one_error_containing(errors, "Microsoft.ServiceBus/namespaces@2099-01-01 is not in api-versions.json")


def test_stale_or_unsourced_table_rows_fail(infra: Path):
    table = infra / "api-versions.json"
    rows = json.loads(table.read_text())
    rows.append({"type": "Microsoft.Web/sites", "apiVersion": "2016-08-01", "source": "x"})
    rows.append({"type": "Microsoft.Web/sites", "apiVersion": "2023-01-01-preview"})
    table.write_text(json.dumps(rows))
    errors = validate(infra)
    one_error_containing(errors, "Microsoft.Web/sites@2016-08-01 is listed but no Bicep file uses it")
    one_error_containing(errors, "Microsoft.Web/sites@2023-01-01-preview has no source")
    one_error_containing(errors, "preview version without a previewBecause")


def test_syntax_error_fails(infra: Path):
    (infra / "main.bicep").write_text((infra / "main.bicep").read_text() + "\nresource broken 'A/b@2020-01-01' = {\n")
    one_error_containing(validate(infra), "main.bicep: does not parse")


def test_unknown_guid_fails_and_comments_are_ignored(infra: Path):
    main = infra / "main.bicep"
    main.write_text(main.read_text() + "\n// 22222222-2222-2222-2222-222222222222 in a comment is fine\n"
                    "var bogusRole = '11111111-2222-3333-4444-555555555555'\n")
    errors = validate(infra)
    one_error_containing(errors, "GUID 11111111-2222-3333-4444-555555555555 is not a known built-in role id")
    assert not any("22222222" in e for e in errors)


def test_keys_and_secrets_fail(infra: Path):
    main = infra / "main.bicep"
    main.write_text(main.read_text() + "\nvar conn = 'DefaultEndpointsProtocol=https;AccountKey=${x.listKeys().keys[0].value}'\n")
    errors = validate(infra)
    one_error_containing(errors, "list*() function")
    one_error_containing(errors, "account key")


def test_missing_loaded_file_fails(infra: Path):
    (infra / "generated" / "operations.json").unlink()
    one_error_containing(validate(infra), "generated/operations.json does not exist")


def test_module_parameter_mismatch_fails(infra: Path):
    modules = sorted((infra / "modules").glob("*.bicep"))
    assert modules, "infra/modules holds at least one module"
    m = modules[0]
    m.write_text(m.read_text() + "\n@description('a parameter no caller passes')\nparam mustBePassed string\n")
    one_error_containing(validate(infra), "does not pass 'mustBePassed'")


def test_wrong_target_scope_fails(infra: Path):
    sub = infra / "subscription.bicep"
    sub.write_text(sub.read_text().replace("targetScope = 'subscription'", "targetScope = 'resourceGroup'"))
    one_error_containing(validate(infra), "targetScope is 'resourceGroup', expected 'subscription'")


def test_undocumented_parameter_fails(infra: Path):
    main = infra / "main.bicep"
    main.write_text(main.read_text() + "\nparam undocumented string = 'x'\n")
    one_error_containing(validate(infra), "parameter undocumented has no @description")


# --- instance-scoped names (issue 12) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "rel, old, new, message",
    [
        ("subscription.bicep",
         "param eventSubscriptionName string = instanceName == 'default' ? 'mpe-approver' : 'mpe-approver-${instanceName}'",
         "param eventSubscriptionName string = 'mpe-approver'", "param eventSubscriptionName"),
        ("subscription.bicep", "name: roleDefinitionName", "name: guid(subscription().id, 'mpe-approver-role')",
         "resource approverRole:"),
        ("subscription.bicep", "roleName: roleName", "roleName: '${role.Name} (${subscription().subscriptionId})'",
         "resource approverRole.roleName"),
        ("main.bicep", "var token = instanceName == 'default' ? uniqueString(resourceGroup().id) : "
         "uniqueString(resourceGroup().id, instanceName)", "var token = uniqueString(resourceGroup().id)", "var token"),
        ("modules/events.bicep", "name: instanceName == 'default' ? 'mpe-approver-deadletter-${subscription().subscriptionId}' : "
         "'mpe-approver-${instanceName}-dl-${uniqueString(subscription().id)}'",
         "name: 'mpe-approver-deadletter-${subscription().subscriptionId}'",
         "module deadLetterAccess"),
    ],
)
def test_a_name_not_derived_from_instance_name_fails(infra: Path, rel, old, new, message):
    f = infra / rel
    src = f.read_text()
    assert old in src, f"{rel} no longer holds {old!r}"
    f.write_text(src.replace(old, new))
    one_error_containing(validate(infra), f"{message}")
    assert any("does not derive from instanceName" in e for e in validate(infra))


def test_a_name_in_a_string_literal_only_does_not_count(infra: Path):
    f = infra / "subscription.bicep"
    src = f.read_text()
    old = "param eventSubscriptionName string = instanceName == 'default' ? 'mpe-approver' : 'mpe-approver-${instanceName}'"
    f.write_text(src.replace(old, "param eventSubscriptionName string = 'mpe-approver-instanceName'"))
    one_error_containing(validate(infra), "param eventSubscriptionName: the name does not derive from instanceName")


def test_instance_name_parameter_must_default_to_default(infra: Path):
    f = infra / "subscription.bicep"
    f.write_text(f.read_text().replace("param instanceName string = 'default'", "param instanceName string = 'prod'"))
    one_error_containing(validate(infra), "does not declare param instanceName string = 'default'")


def test_default_instance_keeps_todays_names():
    """The default branch of every instance-scoped name is the name the previous release used."""
    sub = (INFRA / "subscription.bicep").read_text()
    for old in ["'rg-mpe-approver-events'", "'mpe-approver-subscription-events'", "'mpe-approver'",
                "guid(subscription().id, 'mpe-approver-role')", "'${role.Name} (${subscription().subscriptionId})'",
                "'mpe-approver-events'"]:
        assert f"instanceName == 'default' ? {old}" in sub, old
    assert "instanceName == 'default' ? uniqueString(resourceGroup().id) :" in (INFRA / "main.bicep").read_text()
    events = (INFRA / "modules" / "events.bicep").read_text()
    assert "instanceName == 'default' ? 'mpe-approver-deadletter-${subscription().subscriptionId}'" in events


# --- documented role actions (issue 12) -------------------------------------------------------------


def test_an_undocumented_role_action_fails(infra: Path):
    role_path = infra / "generated" / "role.json"
    role = json.loads(role_path.read_text())
    role["Actions"].append("Microsoft.Media/mediaservices/privateEndpointConnections/write")
    role_path.write_text(json.dumps(role))
    one_error_containing(validate(infra), "Microsoft.Media/mediaservices/privateEndpointConnections/write is not a documented")


def test_an_undocumented_target_side_action_fails(infra: Path):
    path = infra / "generated" / "role-target-side.json"
    path.write_text(json.dumps(json.loads(path.read_text()) + ["Microsoft.PowerBI/privateLinkServicesForPowerBI/read"]))
    one_error_containing(validate(infra), "role-target-side.json: Microsoft.PowerBI/privateLinkServicesForPowerBI/read is not")


def test_the_reference_is_a_copy_with_provenance():
    ref = INFRA / "reference" / "actions.tsv"
    prov = (INFRA / "reference" / "PROVENANCE.md").read_text()
    import hashlib

    assert hashlib.sha256(ref.read_bytes()).hexdigest() in prov, "PROVENANCE.md states the copy's sha256"
    assert "commit 03e5750a" in prov
    assert ref.read_text().splitlines()[0].split("\t")[:2] == ["namespace", "action"]


def test_opt_in_actions_are_not_in_the_role_and_not_documented():
    role = json.loads((INFRA / "generated" / "role.json").read_text())["Actions"]
    opt_in = json.loads((INFRA / "generated" / "role-opt-in.json").read_text())
    assert opt_in["Actions"] and opt_in["Note"]
    assert not set(opt_in["Actions"]) & set(role)
    assert not any(a.startswith("Microsoft.Media/") for a in role + opt_in["Actions"]), "Media Services is retired"
