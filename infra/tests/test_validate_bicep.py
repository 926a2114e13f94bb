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


# --- operations (issue 11): role scopes, nothing expires silently, alerts, who may replay -------------


def edit(infra: Path, rel: str, old: str, new: str) -> None:
    f = infra / rel
    src = f.read_text()
    assert src.count(old) == 1, f"{rel} no longer holds {old!r} exactly once"
    f.write_text(src.replace(old, new))


def test_a_role_assignment_without_scope_fails(infra: Path):
    edit(infra, "main.bicep", "  scope: parkingQueue\n", "")
    one_error_containing(validate(infra), "resource operatorParkingReceiver: a role assignment without `scope:`")


def test_a_service_bus_role_on_the_storage_account_fails(infra: Path):
    edit(infra, "main.bicep", "  name: guid(parkingQueue.id, principalId, roles.serviceBusDataReceiver)\n  scope: parkingQueue\n",
         "  name: guid(storage.id, principalId, roles.serviceBusDataReceiver)\n  scope: storage\n")
    one_error_containing(validate(infra), "operatorParkingReceiver: Azure Service Bus Data Receiver must be scoped to")


def test_a_role_assignment_name_not_derived_from_its_scope_fails(infra: Path):
    edit(infra, "main.bicep", "name: guid(parkingQueue.id, principalId, roles.serviceBusDataReceiver)",
         "name: guid(serviceBus.id, principalId, roles.serviceBusDataReceiver)")
    one_error_containing(validate(infra), "operatorParkingReceiver: the name must be guid(parkingQueue.id")


def test_a_module_role_assignment_is_checked_too(infra: Path):
    edit(infra, "modules/deadletter-access.bicep", "  scope: container\n", "")
    one_error_containing(validate(infra), "deadletter-access.bicep: resource deadLetterWriter: a role assignment without")


def test_a_queue_whose_items_expire_silently_fails(infra: Path):
    main = (infra / "main.bicep").read_text()
    start = main.index("resource parkingQueue ")
    body = main[start:main.index("\n}\n", start)]
    assert body.count("deadLetteringOnMessageExpiration: true") == 1
    (infra / "main.bicep").write_text(main.replace(body, body.replace(
        "deadLetteringOnMessageExpiration: true", "deadLetteringOnMessageExpiration: false")))
    one_error_containing(validate(infra), "resource parkingQueue: deadLetteringOnMessageExpiration must be true")


def test_a_parking_queue_without_its_alert_fails(infra: Path):
    edit(infra, "main.bicep", "metricName: 'ActiveMessages'", "metricName: 'IncomingMessages'")
    one_error_containing(validate(infra), "resource parkingQueue: the parking queue has no metric alert on ActiveMessages")


def test_a_queue_without_a_dead_letter_alert_fails(infra: Path):
    edit(infra, "main.bicep", "                workQueue.name\n                parkingQueue.name\n",
         "                parkingQueue.name\n")
    errors = validate(infra)
    one_error_containing(errors, "resource workQueue: no metric alert on DeadletteredMessages")
    assert not any("resource parkingQueue: no metric alert" in e for e in errors)


def test_auth_must_answer_401_and_keep_the_event_grid_webhook_open(infra: Path):
    edit(infra, "main.bicep", "unauthenticatedClientAction: 'Return401'", "unauthenticatedClientAction: 'RedirectToLoginPage'")
    edit(infra, "main.bicep", "        '/runtime/webhooks/eventgrid'\n", "")
    errors = validate(infra)
    one_error_containing(errors, "resource functionAppAuth: unauthenticatedClientAction must be Return401 or Return403")
    one_error_containing(errors, "resource functionAppAuth: excludedPaths must hold /runtime/webhooks/eventgrid")


def bicep_resource(name: str, rel: str = "main.bicep") -> str:
    """The text of one top-level resource declaration of the real infra/."""
    src = (INFRA / rel).read_text()
    start = src.index(f"\nresource {name} ") + 1
    return src[start:src.index("\n}", start) + 2]


def test_operators_get_what_the_cli_needs_queue_by_queue():
    expected = {
        "operatorWorkSender": ("workQueue", "roles.serviceBusDataSender"),
        "operatorWorkReceiver": ("workQueue", "roles.serviceBusDataReceiver"),
        "operatorParkingReceiver": ("parkingQueue", "roles.serviceBusDataReceiver"),
        "operatorNamespaceReader": ("serviceBus", "roles.reader"),
    }
    for name, (scope, role) in expected.items():
        body = bicep_resource(name)
        assert "= [for principalId in operatorPrincipalIds: {" in body, name
        assert f"  scope: {scope}\n" in body, name
        assert f"roleDefinitions', {role})" in body, name
        assert f"name: guid({scope}.id, principalId, {role})" in body, name
    roles = (INFRA / "main.bicep").read_text()
    assert "  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'\n" in roles


def test_the_identity_receives_from_every_queue_through_the_namespace():
    # MpeReplay receives from the parking queue and the work queue's dead letters; the host's trigger from the
    # work queue: one Data Receiver assignment on the namespace covers them all.
    body = bicep_resource("serviceBusReceiver")
    assert "  scope: serviceBus\n" in body and "roles.serviceBusDataReceiver" in body
    assert "principalId: identity.properties.principalId" in body


def test_nothing_parked_expires_and_replay_scans_do_not_dead_letter():
    main = (INFRA / "main.bicep").read_text()
    # Public contract: the parameter keeps its name; its default is now the Service Bus maximum (no expiry).
    assert "param parkingMessageTimeToLive string = 'P10675199DT2H48M5.4775807S'\n" in main
    m = re.search(r"param parkingMaxDeliveryCount int = (\d+)\n", main)
    assert m and int(m.group(1)) >= 1000
    body = bicep_resource("parkingQueue")
    assert "maxDeliveryCount: parkingMaxDeliveryCount" in body
    assert "defaultMessageTimeToLive: parkingMessageTimeToLive" in body


def test_audit_logs_are_kept_90_days_in_a_workspace_based_application_insights():
    main = (INFRA / "main.bicep").read_text()
    assert re.search(r"@minValue\(30\)\n@maxValue\(730\)\nparam logRetentionInDays int = 90\n", main)
    assert "retentionInDays: logRetentionInDays" in bicep_resource("logAnalytics")
    assert "WorkspaceResourceId: logAnalytics.id" in bicep_resource("appInsights")


def test_replay_auth_is_optional_and_sets_the_role_only_with_it():
    main = (INFRA / "main.bicep").read_text()
    assert "param replayAuthClientId string = ''\n" in main
    assert bicep_resource("functionAppAuth").startswith(
        "resource functionAppAuth 'Microsoft.Web/sites/config@2024-04-01' = if (replayAuth) {")
    assert "var replayAuth = !empty(replayAuthClientId)\n" in main
    assert "name: 'MPE_REPLAY_ROLE'\n    value: replayAuth ? replayOperatorRole : ''" in main
    assert "var replayOperatorRole = 'MpeReplay.Operator'\n" in main


def test_alerts_notify_the_action_group_only_when_given():
    main = (INFRA / "main.bicep").read_text()
    assert "param actionGroupId string = ''\n" in main
    assert "var alertActions = empty(actionGroupId) ? [] : [" in main
    for name in ("parkedAlert", "deadLetterAlert"):
        body = bicep_resource(name)
        assert "actions: alertActions" in body and "autoMitigate: true" in body
        assert "name: 'alert-${prefix}-${token}-" in body, "alert names derive from the instance token"


WORKBOOK = Path("workbooks") / "mpe-approver.workbook.json"


def test_the_workbook_is_loaded_from_its_file_and_is_a_workbook_on_application_insights(infra: Path):
    main = infra / "main.bicep"
    assert f"loadJsonContent('{WORKBOOK.as_posix()}')" in main.read_text()
    doc = json.loads((infra / WORKBOOK).read_text())
    queries = [i for i in doc["items"] if i["type"] == 3]
    assert len(queries) >= 6, "approvals, time to approve, parked, strangers waiting, throttling"
    (infra / WORKBOOK).write_text("{not json")
    one_error_containing(validate(infra), "mpe-approver.workbook.json: is not JSON")


def test_a_workbook_query_naming_an_undeclared_parameter_or_another_resource_type_fails(infra: Path):
    path = infra / WORKBOOK
    doc = json.loads(path.read_text())
    queries = [i for i in doc["items"] if i["type"] == 3]
    queries[0]["content"]["query"] += "\n| where timestamp {Since}"
    queries[1]["content"]["resourceType"] = "microsoft.operationalinsights/workspaces"
    queries[2]["content"]["timeContextFromParameter"] = "Window"
    path.write_text(json.dumps(doc))
    errors = validate(infra)
    one_error_containing(errors, f"item {queries[0]['name']}: the query names {{Since}}, which no parameter declares")
    one_error_containing(errors, f"item {queries[1]['name']}: must query Logs (queryType 0) of microsoft.insights/components")
    one_error_containing(errors, f"item {queries[2]['name']}: timeContextFromParameter must name a declared parameter")


def test_a_workbook_not_shared_or_with_inline_data_fails(infra: Path):
    main = infra / "main.bicep"
    src = main.read_text()
    changed = src.replace("  kind: 'shared'\n", "  kind: 'user'\n", 1)
    changed = re.sub(r"serializedData: string\(union\(loadJsonContent\('[^']+'\)", "serializedData: string(union({}", changed, count=1)
    assert changed != src
    main.write_text(changed)
    errors = validate(infra)
    one_error_containing(errors, "resource workbook: kind must be 'shared'")
    one_error_containing(errors, "resource workbook: serializedData must load its definition from a file")


def test_the_workbook_name_derives_from_the_instance(infra: Path):
    main = infra / "main.bicep"
    src = main.read_text()
    changed = src.replace("name: guid(resourceGroup().id, instanceName, 'mpe-approver-workbook')",
                          "name: guid(resourceGroup().id, 'mpe-approver-workbook')", 1)
    assert changed != src
    main.write_text(changed)
    one_error_containing(validate(infra), "resource workbook: the name does not derive from instanceName")


# --- the management group template (issue 22) -------------------------------------------------------


def replace_in(path: Path, old: str, new: str) -> None:
    src = path.read_text()
    assert old in src, f"{path.name} holds {old!r}"
    path.write_text(src.replace(old, new, 1))


def test_the_management_group_template_is_checked_like_the_others(infra: Path):
    mg = infra / "managementgroup.bicep"
    replace_in(mg, "targetScope = 'managementGroup'", "targetScope = 'subscription'")
    one_error_containing(validate(infra), "managementgroup.bicep: targetScope is 'subscription', expected 'managementGroup'")


def test_a_broken_management_group_template_fails(infra: Path):
    mg = infra / "managementgroup.bicep"
    mg.write_text(mg.read_text() + "\nresource broken 'A/b@2020-01-01' = {\n")
    one_error_containing(validate(infra), "managementgroup.bicep: does not parse")


def test_a_missing_management_group_template_fails(infra: Path):
    (infra / "managementgroup.bicep").unlink()
    one_error_containing(validate(infra), "managementgroup.bicep: is missing")


def test_the_template_the_policy_deploys_is_held_to_the_api_versions_table(infra: Path):
    replace_in(infra / "managementgroup.bicep", "type: 'Microsoft.EventGrid/systemTopics'\n              apiVersion: '2025-02-15'",
               "type: 'Microsoft.EventGrid/systemTopics'\n              apiVersion: '2099-01-01'")
    one_error_containing(validate(infra), "embedded template resource Microsoft.EventGrid/systemTopics@2099-01-01 is not in")


def test_an_undocumented_action_of_a_role_written_in_bicep_fails(infra: Path):
    replace_in(infra / "managementgroup.bicep", "  'Microsoft.EventGrid/systemTopics/write'\n",
               "  'Microsoft.EventGrid/systemTopics/write'\n  'Microsoft.EventGrid/systemTopics/*'\n")
    one_error_containing(validate(infra), "var deployerActions: Microsoft.EventGrid/systemTopics/* is not a documented action")
    replace_in(infra / "managementgroup.bicep", "'Microsoft.Management/managementGroups/descendants/read'",
               "'Microsoft.Management/managementGroups/descendant/read'")
    one_error_containing(validate(infra), "var hierarchyActions: Microsoft.Management/managementGroups/descendant/read")


def test_a_deploying_policy_needs_an_identity_and_its_roles(infra: Path):
    mg = infra / "managementgroup.bicep"
    replace_in(mg, "  identity: {\n    type: 'SystemAssigned'\n  }\n  properties: {\n    displayName: 'mpe-approver",
               "  properties: {\n    displayName: 'mpe-approver")
    one_error_containing(validate(infra), "resource watchAssignment: a deployIfNotExists policy's assignment needs a managed identity")
    replace_in(mg, "'/providers/Microsoft.Authorization/roleDefinitions/${deployerRoleName}'",
               "'/providers/Microsoft.Authorization/roleDefinitions/${approverRoleNam}'")
    one_error_containing(validate(infra), "roleDefinitionIds names ${approverRoleNam}, neither a built-in role nor a custom role")
    replace_in(mg, "var managedIdentityOperator = 'f1a07417-d97a-45cb-824c-7a7467783830'",
               "var managedIdentityOperator = 'b24988ac-6180-42a0-ab88-20f7382dd24c'")
    one_error_containing(validate(infra), "roleDefinitionIds names b24988ac-6180-42a0-ab88-20f7382dd24c, not a known built-in role")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("var policyAssignmentName = instanceName == 'default' ? 'mpe-approver-watch' : 'mpe-watch-${uniqueString(instanceName)}'",
         "var policyAssignmentName = 'mpe-approver-watch'", "resource watchAssignment:"),
        ("var deadLetterIdentityName = instanceName == 'default' ? 'id-mpe-approver-deadletter' : "
         "'id-mpe-approver-${instanceName}-deadletter'", "var deadLetterIdentityName = 'id-mpe-approver-deadletter'",
         "var deadLetterIdentityName"),
        ("roleName: 'MPE Approver watch deployer${suffix} (${groupName})'",
         "roleName: 'MPE Approver watch deployer (${groupName})'", "resource deployerRole.roleName"),
    ],
)
def test_a_management_group_name_not_derived_from_instance_name_fails(infra: Path, old, new, message):
    replace_in(infra / "managementgroup.bicep", old, new)
    one_error_containing(validate(infra), message)


def test_the_policy_deploys_what_subscription_bicep_deploys():
    """The event subscription the policy deploys is subscription.bicep's (modules/events.bicep): the same
    filter (the generated operations, loaded), delivery, retries and dead-letter container; the names default
    to subscription.bicep's, so a subscription deployed either way is compliant."""
    mg = (INFRA / "managementgroup.bicep").read_text()
    events = (INFRA / "modules" / "events.bicep").read_text()
    sub = (INFRA / "subscription.bicep").read_text()
    for snippet in ["endpointType: 'AzureFunction'", "maxEventsPerBatch: 1", "preferredBatchSizeInKilobytes: 64",
                    "eventDeliverySchema: 'EventGridSchema'", "'Microsoft.Resources.ResourceWriteSuccess'",
                    "operatorType: 'StringIn'", "key: 'data.operationName'", "topicType: 'Microsoft.Resources.Subscriptions'",
                    "endpointType: 'StorageBlob'"]:
        assert snippet in mg and snippet in events, snippet
    assert "loadJsonContent('generated/operations.json')" in mg
    assert "'${functionAppId}/functions/MpeEvent'" in mg and "'${functionAppId}/functions/MpeEvent'" in events
    for param in ["eventsResourceGroupName", "systemTopicName", "eventSubscriptionName"]:
        default = re.search(rf"^param {param} string = (.+)$", sub, re.MULTILINE)
        assert default and f"param {param} string = {default.group(1)}" in mg, param
    # The defaults of retries in events.bicep are the values the policy deploys.
    assert "param maxDeliveryAttempts int = 30" in events and "maxDeliveryAttempts: 30" in mg
    assert "param eventTimeToLiveInMinutes int = 1440" in events and "eventTimeToLiveInMinutes: 1440" in mg
    # The approver's role at the group is generated/role.json's plus the hierarchy read MPE_ALLOW needs.
    assert "concat(role.Actions, hierarchyActions, additionalRoleActions)" in mg
    assert "'Microsoft.Management/managementGroups/descendants/read'" in mg


CHECKOV = INFRA.parent / "target" / "py-checkov" / "bin" / "checkov"


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov's venv (target/py-checkov, made by .ci/run) is not installed")
def test_checkov_scans_the_management_group_template_and_fails_a_broken_one(infra: Path):
    import subprocess

    env = {**__import__("os").environ, "CKV_PARSE_ERROR_FAIL": "true", "BC_SKIP_MAPPING": "TRUE"}
    # The config, pointed at the copy, beside it (a .checkov.yaml inside the scanned folder is read too).
    (infra / ".checkov.yaml").unlink()
    config = infra.parent / "checkov.yaml"
    config.write_text((INFRA / ".checkov.yaml").read_text().replace("  - infra\n", f"  - {infra}\n"))
    run = lambda: subprocess.run([str(CHECKOV), "--config-file", str(config), "--compact", "--quiet"], env=env,
                                 capture_output=True, text=True, timeout=600)
    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The config is quiet (failures only): list the passed checks of the same directory to see the file scanned.
    listed = subprocess.run([str(CHECKOV), "-d", str(infra), "--framework", "bicep", "--compact"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert "managementgroup.bicep" in listed.stdout, listed.stdout
    mg = infra / "managementgroup.bicep"
    mg.write_text(mg.read_text() + "\nresource broken 'A/b@2020-01-01' = {\n")
    broken = run()
    assert broken.returncode != 0, broken.stdout + broken.stderr
