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
