#!/usr/bin/env python3
"""Static checks of the Bicep in infra/, for a machine without the Bicep CLI.

The Bicep compiler downloads itself and cannot be installed here, so this is the best available
stand-in (see infra/README.md, "What CI validates"):

- every .bicep file parses (pycep-parser, the Bicep parser checkov uses);
- every resource declaration's `Type@apiVersion` is listed in infra/api-versions.json, which cites the
  REST API specification that proves it, and every listed entry is used (no stale rows);
- API versions are GA unless the table says why a preview is needed;
- every local module exists and parses, gets only parameters it declares, and gets every parameter
  it requires;
- every load*Content() file exists;
- main.bicep is resource-group scoped, subscription.bicep subscription scoped, managementgroup.bicep
  management-group scoped;
- every `type`/`apiVersion` pair of an ARM template embedded in a Bicep file (the template a
  deployIfNotExists policy deploys) is in infra/api-versions.json too;
- every action of a custom role written in a Bicep file (a `var <name>Actions = [...]` list) is documented
  (reference/actions.tsv or reference/actions-extra.tsv);
- a policy assignment of a deployIfNotExists policy has a managed identity and a location, and the policy
  lists the roles that identity needs (roleDefinitionIds: built-in roles, or custom roles the file defines);
- every parameter and output has a @description;
- every GUID literal is a known built-in role (a typo in a role id would grant the wrong role);
- every name that could collide between two approvers in one tenant (INSTANCE_SCOPED_NAMES: role name
  and id, events resource group, system topic, event subscription, deployment names, the main token)
  derives from the `instanceName` parameter, which each of those files declares with the default
  'default';
- every action of generated/role.json and generated/role-target-side.json is documented (reference/actions.tsv, see
  reference/PROVENANCE.md): ARM rejects a whole role definition naming one unknown action;
- no keys or secrets: no list*() calls, no `AccountKey=`, no SAS;
- role assignments in resource-group-scoped files name their `scope:` (a resource of the file: never the whole
  resource group), their name is a guid() of that scope's id (no collisions between scopes), and a Service
  Bus data role is scoped to a namespace or a queue (ROLE_SCOPE_TYPES);
- nothing on a Service Bus queue expires silently (deadLetteringOnMessageExpiration: true), every queue's
  dead letters are watched by a metric alert on DeadletteredMessages, and the parking queue (the one wired
  to MPE_PARKING_QUEUE_NAME) by one on ActiveMessages;
- App Service authentication (sites/config 'authsettingsV2'), where declared, answers 401/403 (never a login
  redirect: MpeReplay is an API) and excludes the Event Grid webhook the MpeEvent trigger is delivered on;
- a workbook (Microsoft.Insights/workbooks) is shared, names its sourceId, and loads its definition from a
  file (load*Content) that is a Notebook/1.0 JSON document whose every query item runs in Logs mode on
  Application Insights (queryType 0, microsoft.insights/components), takes its time range from a declared
  parameter and names no undeclared {parameter}. Which event fields the queries read is checked against
  the events the handler writes by tests/workbook_fields.rs.

Usage: validate_bicep.py [INFRA_DIR]   (exit 1 and one line per problem when something is wrong)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from pycep import BicepParser

# Built-in role definition ids (Azure RBAC "built-in roles" reference; the same ids appear in
# Microsoft's Flex Consumption samples). A GUID literal in the Bicep must be one of these.
KNOWN_BUILTIN_ROLES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
}

# Role ids whose assignments must be scoped to one of these resource types (data roles: no wider than the
# entities they are about).
ROLE_SCOPE_TYPES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": ("Microsoft.ServiceBus/namespaces", "Microsoft.ServiceBus/namespaces/queues"),
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": ("Microsoft.ServiceBus/namespaces", "Microsoft.ServiceBus/namespaces/queues"),
}
RESOURCE_DECL = re.compile(r"^resource (\w+) '([^'@]+)@[^']*'", re.MULTILINE)
EVENT_GRID_WEBHOOK = "/runtime/webhooks/eventgrid"

# Names that must derive from instanceName, per file: `var x` / `param x` (its value or default),
# `resource x` / `module x` (its `name:`), or `resource x.prop` (the property `prop:` in its body).
INSTANCE_SCOPED_NAMES = {
    "main.bicep": ["var token", "resource workbook"],
    "subscription.bicep": [
        "resource approverRole",
        "resource approverRole.roleName",
        "param eventsResourceGroupName",
        "param systemTopicName",
        "param eventSubscriptionName",
        "module events",
    ],
    "modules/events.bicep": ["module deadLetterAccess"],
    "managementgroup.bicep": [
        "resource approverRole",
        "resource approverRole.roleName",
        "resource deployerRole",
        "resource deployerRole.roleName",
        "resource watchPolicy",
        "resource watchAssignment",
        "resource remediation",
        "param eventsResourceGroupName",
        "param systemTopicName",
        "param eventSubscriptionName",
        "var eventsDeploymentName",
        "var deadLetterIdentityName",
        "module deadLetterIdentity",
        "module identityOperator",
    ],
}
INSTANCE_PARAM = re.compile(r"^param instanceName string = 'default'\s*$", re.MULTILINE)
IDENTIFIER = re.compile(r"(?<![.\w'])([A-Za-z_]\w*)")

EXPECTED_SCOPES = {
    "main.bicep": "resourceGroup",
    "subscription.bicep": "subscription",
    "managementgroup.bicep": "managementGroup",
}
# An embedded ARM template's resource: `type: '<T>'` and, on the next line, `apiVersion: '<v>'`.
EMBEDDED_RESOURCE = re.compile(r"^(\s+)type: '([A-Za-z]+\.[A-Za-z]+/[^']+)'\n\1apiVersion: '([^']+)'", re.MULTILINE)
# A custom role's actions written in the file: `var <name>Actions = [` ... `]`.
ACTION_LIST = re.compile(r"^var (\w*[Aa]ctions) = \[\n(.*?)^\]", re.MULTILINE | re.DOTALL)

GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
LOAD_FUNCTIONS = {"load_json_content", "load_text_content", "load_file_as_base64", "load_yaml_content"}
SECRET_PATTERNS = [
    (re.compile(r"\blist\w*\s*\("), "calls a list*() function (keys or secrets)"),
    (re.compile(r"AccountKey=", re.IGNORECASE), "builds a connection string with an account key"),
    (re.compile(r"SharedAccessSignature|SharedAccessKey", re.IGNORECASE), "uses a SAS or shared access key"),
]


def walk(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar in a parsed tree."""
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def strip_comments(text: str) -> str:
    """Bicep source without // and /* */ comments (string contents are kept)."""
    out, i, n = [], 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == "'":
                in_string = False
        elif text.startswith("'''", i):
            end = text.find("'''", i + 3)
            end = n if end < 0 else end + 3
            out.append(text[i:end])
            i = end
            continue
        elif c == "'":
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def module_body(mod: dict) -> dict:
    """A module's `{name, scope, params, ...}`, under any `if (...)` or `for` wrappers pycep nests it in."""
    body = mod.get("config") or {}
    while isinstance(body, dict) and "params" not in body and isinstance(body.get("config"), dict):
        body = body["config"]
    return body if isinstance(body, dict) else {}


class Validator:
    def __init__(self, infra: Path) -> None:
        self.infra = infra
        self.parser = BicepParser()
        self.errors: list[str] = []
        self.parsed: dict[Path, dict] = {}

    def error(self, path: Path, message: str) -> None:
        try:
            shown = path.relative_to(self.infra.parent)
        except ValueError:
            shown = path
        self.errors.append(f"{shown}: {message}")

    def parse(self, path: Path) -> dict | None:
        if path in self.parsed:
            return self.parsed[path]
        try:
            tree = self.parser.parse(file_path=path)
        except Exception as e:  # lark's errors carry line and column
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.error(path, f"does not parse: {first}")
            return None
        self.parsed[path] = tree
        return tree

    def run(self) -> list[str]:
        files = sorted(self.infra.rglob("*.bicep"))
        for name in EXPECTED_SCOPES:
            if not (self.infra / name).is_file():
                self.error(self.infra / name, "is missing")
        table = self.load_api_versions()
        used: set[tuple[str, str]] = set()
        for path in files:
            tree = self.parse(path)
            if tree is None:
                continue
            self.check_scope(path, tree)
            self.check_resources(path, tree, table, used)
            self.check_embedded_templates(path, table, used)
            self.check_policies(path)
            self.check_modules(path, tree)
            self.check_loads(path, tree)
            self.check_descriptions(path, tree)
            self.check_text(path)
            self.check_role_assignments(path, tree)
            self.check_queues_and_alerts(path)
            self.check_auth_settings(path)
            self.check_workbooks(path)
        self.check_instance_names()
        self.check_role_reference()
        self.check_written_actions(files)
        for key in sorted(set(table) - used):
            self.error(self.infra / "api-versions.json", f"{key[0]}@{key[1]} is listed but no Bicep file uses it")
        return self.errors

    def load_api_versions(self) -> dict[tuple[str, str], dict]:
        path = self.infra / "api-versions.json"
        try:
            rows = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            self.error(path, f"cannot be read: {e}")
            return {}
        table: dict[tuple[str, str], dict] = {}
        for row in rows if isinstance(rows, list) else []:
            key = (str(row.get("type", "")), str(row.get("apiVersion", "")))
            if not row.get("source"):
                self.error(path, f"{key[0]}@{key[1]} has no source")
            if not API_VERSION.match(key[1]):
                self.error(path, f"{key[0]}@{key[1]}: not an API version")
            elif key[1].endswith("-preview") and not row.get("previewBecause"):
                self.error(path, f"{key[0]}@{key[1]} is a preview version without a previewBecause")
            table[key] = row
        if not isinstance(rows, list):
            self.error(path, "must be a JSON array of {type, apiVersion, source}")
        return table

    def check_scope(self, path: Path, tree: dict) -> None:
        expected = EXPECTED_SCOPES.get(path.name) if path.parent == self.infra else None
        if expected is None:
            return
        scope = tree.get("globals", {}).get("scope", {}).get("value", "resourceGroup")
        if scope != expected:
            self.error(path, f"targetScope is {scope!r}, expected {expected!r}")

    def check_resources(self, path: Path, tree: dict, table: dict, used: set) -> None:
        for name, res in (tree.get("resources") or {}).items():
            key = (res.get("type", ""), res.get("api_version", ""))
            # ARM resource types are case-insensitive; the table is written as the specification spells them.
            match = next((k for k in table if k[0].lower() == key[0].lower() and k[1] == key[1]), None)
            if match is None:
                self.error(path, f"resource {name}: {key[0]}@{key[1]} is not in api-versions.json")
            else:
                used.add(match)

    def check_embedded_templates(self, path: Path, table: dict, used: set) -> None:
        code = strip_comments(path.read_text())
        for _, rtype, version in EMBEDDED_RESOURCE.findall(code):
            match = next((k for k in table if k[0].lower() == rtype.lower() and k[1] == version), None)
            if match is None:
                self.error(path, f"embedded template resource {rtype}@{version} is not in api-versions.json")
            else:
                used.add(match)

    def check_policies(self, path: Path) -> None:
        code = strip_comments(path.read_text())
        types = resource_types(code)
        definitions = [n for n, t in types.items() if t.lower() == "microsoft.authorization/policydefinitions"]
        deploying = False
        for name in definitions:
            body = declaration(code, "resource", name) or ""
            if not re.search(r"DeployIfNotExists|Modify", body, re.IGNORECASE):
                continue
            deploying = True
            m = re.search(r"^(\s+)roleDefinitionIds: \[\n(.*?)^\1\]", body, re.MULTILINE | re.DOTALL)
            ids = re.findall(r"roleDefinitions/([^'/]+)'", m.group(2)) if m else []
            if not ids:
                self.error(path, f"resource {name}: a deployIfNotExists policy must list roleDefinitionIds (the roles its "
                                 "assignment's identity needs)")
            for ref in ids:
                if GUID.fullmatch(ref):
                    if ref.lower() not in KNOWN_BUILTIN_ROLES:
                        self.error(path, f"resource {name}: roleDefinitionIds names {ref}, not a known built-in role")
                    continue
                inner = re.fullmatch(r"\$\{(\w+)\}", ref)
                var = declaration(code, "var", inner.group(1)) if inner else None
                literal = GUID.search(var.split("=", 1)[-1]) if var is not None else None
                if literal is not None and "guid(" not in var:
                    if literal.group(0).lower() not in KNOWN_BUILTIN_ROLES:
                        self.error(path, f"resource {name}: roleDefinitionIds names {literal.group(0)}, not a known built-in role")
                    continue
                if var is None or not any(re.search(rf"^  name: {inner.group(1)}\s*$", declaration(code, "resource", r) or "",
                                                    re.MULTILINE)
                                          for r, t in types.items() if t.lower() == "microsoft.authorization/roledefinitions"):
                    self.error(path, f"resource {name}: roleDefinitionIds names {ref}, neither a built-in role nor a "
                                     "custom role this file defines")
        if not deploying:
            return
        for name, rtype in types.items():
            if rtype.lower() != "microsoft.authorization/policyassignments":
                continue
            body = declaration(code, "resource", name) or ""
            if not re.search(r"^  identity: \{\n\s+type: 'SystemAssigned'", body, re.MULTILINE) and \
                    "type: 'UserAssigned'" not in body:
                self.error(path, f"resource {name}: a deployIfNotExists policy's assignment needs a managed identity "
                                 "(identity: {{ type: 'SystemAssigned' }})")
            if not re.search(r"^  location: ", body, re.MULTILINE):
                self.error(path, f"resource {name}: an assignment with a managed identity needs a location")

    def check_written_actions(self, files: list[Path]) -> None:
        documented = self.documented_actions()
        if documented is None:
            return
        for path in files:
            code = strip_comments(path.read_text())
            for name, items in ACTION_LIST.findall(code):
                for action in re.findall(r"^\s+'([^']+)'\s*$", items, re.MULTILINE):
                    if action.lower() not in documented:
                        self.error(path, f"var {name}: {action} is not a documented action (reference/actions.tsv, "
                                         "reference/actions-extra.tsv); ARM would reject the role")

    def documented_actions(self) -> set[str] | None:
        documented: set[str] = set()
        for rel in ("actions.tsv", "actions-extra.tsv"):
            ref = self.infra / "reference" / rel
            if not ref.is_file():
                if rel == "actions.tsv":
                    return None
                continue
            for line in ref.read_text().splitlines()[1:]:
                cols = line.split("\t")
                if len(cols) > 1:
                    documented.add(cols[1].strip().lower())
        return documented

    def check_modules(self, path: Path, tree: dict) -> None:
        for name, mod in (tree.get("modules") or {}).items():
            if mod.get("type") != "local":
                self.error(path, f"module {name}: only local modules are used here")
                continue
            target = (path.parent / mod["detail"]["path"]).resolve()
            if not target.is_file():
                self.error(path, f"module {name}: {mod['detail']['path']} does not exist")
                continue
            sub = self.parse(target)
            if sub is None:
                continue
            declared = sub.get("parameters") or {}
            passed = module_body(mod).get("params") or {}
            if not isinstance(passed, dict):
                continue  # params given as one object expression: nothing to check statically
            for p in sorted(set(passed) - set(declared)):
                self.error(path, f"module {name}: passes {p!r}, which {target.name} does not declare")
            for p, spec in sorted(declared.items()):
                # pycep reads a parameter without a default as `"default": None`.
                if spec.get("default") is None and p not in passed:
                    self.error(path, f"module {name}: does not pass {p!r}, which {target.name} requires")

    def check_loads(self, path: Path, tree: dict) -> None:
        for node in walk(tree):
            if isinstance(node, dict) and node.get("type") in LOAD_FUNCTIONS:
                rel = (node.get("parameters") or {}).get("file_path")
                if isinstance(rel, str) and not (path.parent / rel).is_file():
                    self.error(path, f"{node['type']}: {rel} does not exist")

    def check_descriptions(self, path: Path, tree: dict) -> None:
        for kind in ("parameters", "outputs"):
            for name, spec in (tree.get(kind) or {}).items():
                decorators = spec.get("decorators") or []
                if not any(d.get("type") == "description" for d in decorators if isinstance(d, dict)):
                    self.error(path, f"{kind[:-1]} {name} has no @description")

    def check_instance_names(self) -> None:
        for rel, names in INSTANCE_SCOPED_NAMES.items():
            path = self.infra / rel
            if not path.is_file():
                continue  # reported as missing elsewhere (or not part of this tree)
            code = strip_comments(path.read_text())
            if not INSTANCE_PARAM.search(code):
                self.error(path, "does not declare param instanceName string = 'default'")
            for spec in names:
                kind, _, rest = spec.partition(" ")
                name, _, prop = rest.partition(".")
                body = declaration(code, kind, name)
                if body is None:
                    self.error(path, f"{spec}: not found (INSTANCE_SCOPED_NAMES lists it)")
                    continue
                if kind in ("var", "param"):
                    expr = body.split("=", 1)[1] if "=" in body else ""
                else:
                    key = rf"\s+{prop}" if prop else "  name"  # a resource's own name is at the first indent
                    m = re.search(rf"^{key}:\s*(.+)$", body, re.MULTILINE)
                    expr = m.group(1) if m else ""
                if not derives_from_instance(code, expr):
                    self.error(path, f"{spec}: the name does not derive from instanceName (two instances would collide)")

    def check_role_reference(self) -> None:
        role_path = self.infra / "generated" / "role.json"
        ref_path = self.infra / "reference" / "actions.tsv"
        if not role_path.is_file():
            return
        if not ref_path.is_file():
            self.error(ref_path, "is missing (the documented actions the role is checked against)")
            return
        documented = set()
        for line in ref_path.read_text().splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) > 1:
                documented.add(cols[1].strip().lower())
        # role.json (an object with Actions) and role-target-side.json (an array: the targets-only role).
        for path in (role_path, self.infra / "generated" / "role-target-side.json"):
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_text())
                actions = data.get("Actions", []) if isinstance(data, dict) else data
            except (OSError, json.JSONDecodeError) as e:
                self.error(path, f"cannot be read: {e}")
                continue
            for action in actions:
                if str(action).lower() not in documented:
                    self.error(path, f"{action} is not a documented action (reference/actions.tsv); ARM would reject the role")

    def check_role_assignments(self, path: Path, tree: dict) -> None:
        scope = tree.get("globals", {}).get("scope", {}).get("value", "resourceGroup")
        if scope != "resourceGroup":
            return  # subscription.bicep assigns its custom role at the subscription, by design
        code = strip_comments(path.read_text())
        types = resource_types(code)
        for name, rtype in types.items():
            if rtype.lower() != "microsoft.authorization/roleassignments":
                continue
            body = declaration(code, "resource", name) or ""
            m = re.search(r"^  scope: (\w+)\s*$", body, re.MULTILINE)
            if m is None:
                self.error(path, f"resource {name}: a role assignment without `scope:` applies to the whole resource group; "
                                 "scope it to the resource it is about")
                continue
            target = m.group(1)
            if target not in types:
                self.error(path, f"resource {name}: scope {target} is not a resource declared in this file")
                continue
            assignment_name = re.search(r"^  name: (.+)$", body, re.MULTILINE)
            if assignment_name is None or not re.search(rf"guid\([^)]*\b{target}\.id\b", assignment_name.group(1)):
                self.error(path, f"resource {name}: the name must be guid({target}.id, ...) so assignments at different "
                                 "scopes never share a name")
            for role in role_ids(code, body):
                allowed = ROLE_SCOPE_TYPES.get(role)
                if allowed and types[target] not in allowed:
                    self.error(path, f"resource {name}: {KNOWN_BUILTIN_ROLES.get(role, role)} must be scoped to "
                                     f"{' or '.join(allowed)}, not {types[target]} ({target})")

    def check_queues_and_alerts(self, path: Path) -> None:
        code = strip_comments(path.read_text())
        types = resource_types(code)
        queues = [n for n, t in types.items() if t.lower() == "microsoft.servicebus/namespaces/queues"
                  and "existing" not in (declaration(code, "resource", n) or "").splitlines()[0]]
        if not queues:
            return
        alerts = [declaration(code, "resource", n) or "" for n, t in types.items()
                  if t.lower() == "microsoft.insights/metricalerts"]

        def watched(metric: str, queue: str) -> bool:
            return any(f"metricName: '{metric}'" in a and re.search(rf"\b{queue}\.name\b", a)
                       and "name: 'EntityName'" in a for a in alerts)

        for q in queues:
            body = declaration(code, "resource", q) or ""
            if not re.search(r"^\s+deadLetteringOnMessageExpiration: true\s*$", body, re.MULTILINE):
                self.error(path, f"resource {q}: deadLetteringOnMessageExpiration must be true (expired items would vanish)")
            if not watched("DeadletteredMessages", q):
                self.error(path, f"resource {q}: no metric alert on DeadletteredMessages with EntityName {q}.name")
        m = re.search(r"name: 'MPE_PARKING_QUEUE_NAME'\s*\n\s*value: (\w+)\.name", code)
        if m and m.group(1) in queues and not watched("ActiveMessages", m.group(1)):
            self.error(path, f"resource {m.group(1)}: the parking queue has no metric alert on ActiveMessages "
                             f"with EntityName {m.group(1)}.name (parked items would go unnoticed)")

    def check_auth_settings(self, path: Path) -> None:
        code = strip_comments(path.read_text())
        for name, rtype in resource_types(code).items():
            body = declaration(code, "resource", name) or ""
            if rtype.lower() != "microsoft.web/sites/config" or "name: 'authsettingsV2'" not in body:
                continue
            action = re.search(r"unauthenticatedClientAction: '(\w+)'", body)
            if action is None or action.group(1) not in ("Return401", "Return403"):
                self.error(path, f"resource {name}: unauthenticatedClientAction must be Return401 or Return403 (an API)")
            if f"'{EVENT_GRID_WEBHOOK}'" not in body:
                self.error(path, f"resource {name}: excludedPaths must hold {EVENT_GRID_WEBHOOK} (Event Grid delivers "
                                 "MpeEvent there without an Entra token)")

    def check_workbooks(self, path: Path) -> None:
        code = strip_comments(path.read_text())
        for name, rtype in resource_types(code).items():
            if rtype.lower() != "microsoft.insights/workbooks":
                continue
            body = declaration(code, "resource", name) or ""
            if not re.search(r"^  kind: 'shared'\s*$", body, re.MULTILINE):
                self.error(path, f"resource {name}: kind must be 'shared' (a workbook everyone with access sees)")
            if not re.search(r"^    sourceId: \S", body, re.MULTILINE):
                self.error(path, f"resource {name}: no sourceId (the resource whose Workbooks blade lists it)")
            m = re.search(r"serializedData: .*load(?:Json|Text)Content\('([^']+)'\)", body)
            if m is None:
                self.error(path, f"resource {name}: serializedData must load its definition from a file (loadJsonContent)")
                continue
            file = path.parent / m.group(1)
            if not file.is_file():
                continue  # reported by check_loads
            try:
                doc = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError) as e:
                self.error(file, f"is not JSON: {e}")
                continue
            for problem in workbook_problems(doc):
                self.error(file, problem)

    def check_text(self, path: Path) -> None:
        code = strip_comments(path.read_text())
        for guid in sorted(set(g.lower() for g in GUID.findall(code))):
            if guid not in KNOWN_BUILTIN_ROLES:
                self.error(path, f"GUID {guid} is not a known built-in role id")
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(code):
                self.error(path, what)


def declaration(code: str, kind: str, name: str) -> str | None:
    """The text of a top-level `kind name ...` declaration: one line for var/param, the braced body for
    resource/module (up to the closing `}` in column 0)."""
    m = re.search(rf"^{kind} {re.escape(name)}\b(.*)$", code, re.MULTILINE)
    if m is None:
        return None
    if kind in ("var", "param"):
        return m.group(1)
    end = re.search(r"^}", code[m.end():], re.MULTILINE)
    return code[m.start(): m.end() + (end.start() if end else len(code))]


def resource_types(code: str) -> dict[str, str]:
    """Symbolic name -> resource type of every top-level resource declaration."""
    return {m.group(1): m.group(2) for m in RESOURCE_DECL.finditer(code)}


def role_ids(code: str, body: str) -> set[str]:
    """The built-in role ids a role assignment body names: GUID literals, `roles.<key>` entries of a
    `var roles = {...}` table, or a var holding a GUID."""
    ids = {g.lower() for g in GUID.findall(body)}
    table = re.search(r"^var roles = \{(.*?)^\}", code, re.MULTILINE | re.DOTALL)
    entries = dict(re.findall(r"^\s+(\w+): '([0-9a-fA-F-]{36})'", table.group(1), re.MULTILINE)) if table else {}
    m = re.search(r"roleDefinitionId: .*$", body, re.MULTILINE)
    for key in re.findall(r"\broles\.(\w+)", body):
        if key in entries:
            ids.add(entries[key].lower())
    if m:
        for ident in re.findall(r"(?<![.\w])([A-Za-z_]\w*)(?![\w(.])", string_free(m.group(0).split(":", 1)[1])):
            var = declaration(code, "var", ident)
            if var is not None:
                ids.update(g.lower() for g in GUID.findall(var))
    return ids


def string_free(expr: str) -> str:
    """An expression with string literals reduced to their ${...} interpolations."""
    out = []
    for part in re.split(r"('(?:[^'\\]|\\.)*')", expr):
        if part.startswith("'"):
            out.extend(re.findall(r"\$\{([^}]*)\}", part))
        else:
            out.append(part)
    return " ".join(out)


def derives_from_instance(code: str, expr: str, seen: frozenset = frozenset()) -> bool:
    """Whether an expression uses instanceName, directly or through variables."""
    for ident in IDENTIFIER.findall(string_free(expr)):
        if ident == "instanceName":
            return True
        if ident in seen:
            continue
        var = declaration(code, "var", ident)
        if var is not None and derives_from_instance(code, var.split("=", 1)[-1], seen | {ident}):
            return True
    return False


WORKBOOK_PARAM_REF = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def workbook_items(items: Any) -> Iterator[dict]:
    """Every item of a workbook, those inside groups (type 12) included."""
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            yield item
            yield from workbook_items((item.get("content") or {}).get("items"))


def workbook_problems(doc: Any) -> list[str]:
    """What is wrong with a workbook definition (Notebook/1.0), for a workbook on Application Insights."""
    if not isinstance(doc, dict) or doc.get("version") != "Notebook/1.0":
        return ["is not a workbook definition (version Notebook/1.0)"]
    items = list(workbook_items(doc.get("items")))
    params = {p.get("name") for i in items if i.get("type") == 9
              for p in (i.get("content") or {}).get("parameters") or [] if isinstance(p, dict)}
    problems = []
    queries = [i for i in items if i.get("type") == 3]
    if not queries:
        problems.append("has no query item")
    for item in queries:
        c, label = item.get("content") or {}, item.get("name", "?")
        query = c.get("query")
        if not isinstance(query, str) or not query.strip():
            problems.append(f"item {label}: no query")
            continue
        if c.get("queryType") != 0 or str(c.get("resourceType", "")).lower() != "microsoft.insights/components":
            problems.append(f"item {label}: must query Logs (queryType 0) of microsoft.insights/components")
        if c.get("timeContextFromParameter") not in params:
            problems.append(f"item {label}: timeContextFromParameter must name a declared parameter")
        for ref in sorted(set(WORKBOOK_PARAM_REF.findall(query)) - params):
            problems.append(f"item {label}: the query names {{{ref}}}, which no parameter declares")
    return problems


def validate(infra: Path) -> list[str]:
    return Validator(infra.resolve()).run()


def main(argv: list[str]) -> int:
    infra = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    errors = validate(infra)
    for e in errors:
        print(e)
    files = len(list(infra.rglob("*.bicep")))
    if errors:
        print(f"bicep validation: {len(errors)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    print(f"bicep validation: {files} file(s) parse; resource types, API versions, modules, loads and role ids check out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
