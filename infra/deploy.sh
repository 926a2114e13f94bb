#!/usr/bin/env bash
# Deploys mpe-approver with the Azure CLI: main.bicep into one resource group, the code package, then
# subscription.bicep into every watched subscription (and, role only, into subscriptions that only hold
# target resources), and managementgroup.bicep into every watched management group (an Azure Policy that
# watches each subscription under it, present and future). Run it again to update: every step is idempotent. Each deployment is shown as a
# what-if first and needs a confirmation (--yes: none; without a terminal and without --yes it stops).
#
#   infra/deploy.sh --resource-group rg-mpe-approver --location westeurope \
#       [--subscription <id>]            # where the approver lives (default: az's current subscription)
#       [--watch <id>]...                # subscriptions whose MPEs are watched (default: the approver's)
#       [--targets-only <id>]...         # subscriptions that only hold target resources (role only)
#       [--management-group <id>]...     # management groups whose subscriptions, present and future, are watched
#       [--allow <rule>]...              # extra MPE_ALLOW rules, e.g. '/subscriptions/<a>->/subscriptions/<b>'
#       [--instance <name>]              # a second approver in the same tenant (default: default)
#       [--package <path-or-url> [--sha256 <hex>]] [--skip-code]   # a URL needs --sha256
#       [--role-opt-in]                  # add generated/role-opt-in.json's actions to the role
#       [-p key=value]...                # parameters for main.bicep, e.g. -p dryRun=true
#       [--yes]                          # no what-if confirmation (pipelines)
#       [--uninstall]                    # remove what this script deployed (never an adopted topic)
#
# Needs: az (logged in, with Owner or User Access Administrator + Contributor where it deploys), and the
# package built by infra/package.sh or a release's mpe-approver.zip. See infra/README.md.
set -euo pipefail

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

die() {
  echo "deploy: $*" >&2
  exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
resource_group="" location="" subscription="" package="$repo/dist/mpe-approver.zip" skip_code=false
sha256="" instance=default yes=false uninstall=false role_opt_in=false
watch=() targets_only=() main_params=() allow=() management_groups=()

while [ $# -gt 0 ]; do
  case "$1" in
    -g | --resource-group) resource_group="${2:?--resource-group needs a value}"; shift 2 ;;
    -l | --location) location="${2:?--location needs a value}"; shift 2 ;;
    -s | --subscription) subscription="${2:?--subscription needs a value}"; shift 2 ;;
    --watch) watch+=("${2:?--watch needs a subscription id}"); shift 2 ;;
    --targets-only) targets_only+=("${2:?--targets-only needs a subscription id}"); shift 2 ;;
    --management-group) management_groups+=("${2:?--management-group needs a management group id}"); shift 2 ;;
    --allow) allow+=("${2:?--allow needs a rule}"); shift 2 ;;
    --instance) instance="${2:?--instance needs a name}"; shift 2 ;;
    --package) package="${2:?--package needs a path or URL}"; shift 2 ;;
    --sha256) sha256="${2:?--sha256 needs a hex digest}"; shift 2 ;;
    --skip-code) skip_code=true; shift ;;
    --role-opt-in) role_opt_in=true; shift ;;
    -p | --parameter) main_params+=("${2:?-p needs key=value}"); shift 2 ;;
    -y | --yes) yes=true; shift ;;
    --uninstall) uninstall=true; shift ;;
    -h | --help) usage 0 ;;
    *) echo "deploy: unknown argument $1" >&2; usage ;;
  esac
done

# ---------------------------------------------------------------------------------------------------
# Input checks: all before the first az call
# ---------------------------------------------------------------------------------------------------

[ -n "$resource_group" ] || die "--resource-group is required"
[ "$uninstall" = true ] || [ -n "$location" ] || die "--location is required"
command -v az >/dev/null || die "the Azure CLI (az) is not on PATH"
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
for id in ${watch[@]+"${watch[@]}"} ${targets_only[@]+"${targets_only[@]}"}; do
  [[ "$id" =~ $guid ]] || die "$id is not a subscription id (a GUID)"
done
# A management group id: 1 to 90 letters, digits, -, _, ., ( or ), not ending in . (as MPE_ALLOW reads it).
mg_re='^[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]$'
for mg in ${management_groups[@]+"${management_groups[@]}"}; do
  [[ "$mg" =~ $mg_re ]] || die "--management-group $mg: a management group id (its name, not its display name): 1 to 90 letters, digits, -, _, ., ( or )"
done
[[ "$instance" =~ ^[a-z0-9][a-z0-9-]{0,19}$ ]] ||
  die "--instance $instance: 1 to 20 lower-case letters, digits and hyphens, starting with a letter or digit"
user_allow_rules=false user_sweep_scopes=false
for kv in ${main_params[@]+"${main_params[@]}"}; do
  [[ "$kv" == *=* ]] || die "-p $kv: expected key=value"
  case "${kv%%=*}" in
    instanceName) die "-p instanceName: use --instance (it names the subscription deployments too)" ;;
    allowRules) user_allow_rules=true ;;
    sweepScopes) user_sweep_scopes=true ;;
  esac
done
rule_re='^(\*|/[^,>[:space:]]+)->(\*|/[^,>[:space:]]+)$' # <source scope>-><target scope>, a scope * or /...
for rule in ${allow[@]+"${allow[@]}"}; do
  [[ "$rule" == same-subscription || "$rule" =~ $rule_re ]] ||
    die "--allow $rule: expected same-subscription or <source scope>-><target scope> (* or a /subscriptions/... id)"
done
if [ "$user_allow_rules" = true ] && [ ${#allow[@]} -gt 0 ]; then
  die "--allow and -p allowRules=... do not mix: give the whole list one way"
fi
if [ -n "$sha256" ]; then
  [[ "$sha256" =~ ^[0-9a-fA-F]{64}$ ]] || die "--sha256 $sha256: expected 64 hex digits (a SHA-256)"
  sha256="$(echo "$sha256" | tr 'A-F' 'a-f')"
fi
package_is_url=false
case "$package" in https://* | http://* | file://*) package_is_url=true ;; esac
if [ "$uninstall" = false ] && [ "$skip_code" = false ]; then
  if [ "$package_is_url" = true ]; then
    [ -n "$sha256" ] || die "--package $package is a URL: pass its --sha256 (the release's mpe-approver.zip.sha256)"
  elif [ ! -f "$package" ]; then
    die "$package does not exist: build it with infra/package.sh (or pass --package / --skip-code)"
  fi
fi
# Confirmations need a terminal; a pipeline says --yes. Checked before anything touches Azure.
if [ "$yes" = false ] && ! [ -t 0 ]; then
  die "no terminal to confirm the what-if on: review it interactively, or pass --yes (pipelines)"
fi

# Names that carry the instance (the default instance keeps the original names; see subscription.bicep).
if [ "$instance" = default ]; then
  main_deployment=mpe-approver-main sub_deployment=mpe-approver-subscription mg_deployment=mpe-approver-managementgroup
  events_group=rg-mpe-approver-events topic_name=mpe-approver-subscription-events event_subscription=mpe-approver
else
  main_deployment="mpe-approver-$instance-main" sub_deployment="mpe-approver-$instance-subscription"
  mg_deployment="mpe-approver-$instance-managementgroup"
  events_group="rg-mpe-approver-$instance-events" topic_name="mpe-approver-$instance-subscription-events"
  event_subscription="mpe-approver-$instance"
fi
role_name_for() { # the custom role's name in one subscription (generated/role.json Name, as subscription.bicep builds it)
  if [ "$instance" = default ]; then echo "MPE Approver ($1)"; else echo "MPE Approver $instance ($1)"; fi
}

lower() { echo "$1" | tr '[:upper:]' '[:lower:]'; }

# ---------------------------------------------------------------------------------------------------
# The package: a path, or a URL downloaded here; with --sha256 its checksum must match
# ---------------------------------------------------------------------------------------------------

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

if [ "$uninstall" = false ] && [ "$skip_code" = false ]; then
  if [ "$package_is_url" = true ]; then
    command -v curl >/dev/null || die "curl is needed to download $package"
    download_dir="$(mktemp -d)"
    trap 'rm -rf "$download_dir"' EXIT
    echo "== downloading $package"
    curl -fsSL --retry 3 -o "$download_dir/mpe-approver.zip" "$package" || die "could not download $package"
    package="$download_dir/mpe-approver.zip"
  fi
  if [ -n "$sha256" ]; then
    actual="$(sha256_of "$package")"
    [ "$actual" = "$sha256" ] ||
      die "checksum mismatch for the package: expected sha256 $sha256, got $actual; not deploying it"
    echo "== package checksum ok (sha256 $actual)"
  fi
fi

if [ -z "$subscription" ]; then
  subscription="$(az account show --query id -o tsv)" || die "az is not logged in (az login)"
fi
[[ "$subscription" =~ $guid ]] || die "$subscription is not a subscription id (a GUID)"
# With a management group, the approver's own subscription is watched only when named (or under the group).
[ ${#watch[@]} -gt 0 ] || [ ${#management_groups[@]} -gt 0 ] || watch=("$subscription")

# ---------------------------------------------------------------------------------------------------
# Errors: which are worth retrying
# ---------------------------------------------------------------------------------------------------

# Retryable: throttling (429), server errors (5xx), conflicts while a previous operation or a new role
# assignment settles (409), a principal not yet replicated (PrincipalNotFound), plus what the caller adds
# for its step (the storage 403 right after a role assignment; Event Grid not finding MpeEvent before the
# host has synced its triggers). Everything else (a 400 such as InvalidTemplate, a policy denial, a
# quota, an authorization failure) fails at once: retrying cannot fix it.
retryable_common='\b429\b|TooManyRequests|Too Many Requests|\b50[0-4]\b|InternalServerError|ServiceUnavailable|Service Unavailable|GatewayTimeout|Gateway Time-?out|BadGateway|Bad Gateway|\b409\b|Conflict|AnotherOperationInProgress|PrincipalNotFound'
# 409s that are not transient: an existing role (another instance, or a role created by hand).
never_retry='RoleAssignmentExists|RoleDefinitionWithSameNameExists|RoleDefinitionLimitExceeded'

# retry ATTEMPTS PAUSE EXTRA_PATTERN COMMAND...: runs COMMAND; retries only errors matching the patterns.
retry() {
  local attempts="$1" pause="$2" extra="$3" n=1 err
  shift 3
  err="$(mktemp)"
  until "$@" 2>"$err"; do
    cat "$err" >&2
    if grep -Eqi "$never_retry" "$err" || ! grep -Eqi "$retryable_common${extra:+|$extra}" "$err"; then
      echo "deploy: not retried: the error above is not transient (bad template, policy, quota, rights, ...)" >&2
      rm -f "$err"
      return 1
    fi
    if [ "$n" -ge "$attempts" ]; then
      echo "deploy: still failing after $attempts attempts" >&2
      rm -f "$err"
      return 1
    fi
    echo "deploy: attempt $n of $attempts failed with a transient error; retrying in ${pause}s" >&2
    sleep "$pause"
    n=$((n + 1))
  done
  cat "$err" >&2
  rm -f "$err"
}

# What-if, then a confirmation (skipped with --yes). Returns only when the user agreed.
confirm() {
  [ "$yes" = true ] && return 0
  local answer
  read -r -p "deploy: $1 [y/N] " answer || answer=""
  case "$answer" in y | Y | yes | YES) return 0 ;; *) die "stopped: not confirmed (nothing more was changed)" ;; esac
}

# The subscription's Microsoft.Resources.Subscriptions system topic, if any: "name<TAB>resource group<TAB>
# identity type". `az eventgrid system-topic list` returns SystemTopic resources (SystemTopics_ListBySubscription:
# name, id, topicType, source, identity, ...; azure-rest-api-specs eventgrid stable 2025-02-15); the
# resource group is read from the id, topicType compared case-insensitively.
find_system_topic() {
  local sub="$1" name id type identity list
  list="$(az eventgrid system-topic list --subscription "$sub" --query "[].[name, id, topicType, identity.type]" -o tsv)" ||
    return 2
  while IFS=$'\t' read -r name id type identity; do
    [ -n "$name" ] || continue
    if [ "$(lower "$type")" = microsoft.resources.subscriptions ]; then
      local rg="${id#*/resourceGroups/}"
      [ "$rg" != "$id" ] || rg="${id#*/resourcegroups/}"
      printf '%s\t%s\t%s\n' "$name" "${rg%%/*}" "$identity"
      return 0
    fi
  done <<<"$list"
  return 0
}

# The outputs of managementgroup.bicep's deployment at group $1: "policyAssignmentId<TAB>policyDefinitionId<TAB>
# roleDefinitionId<TAB>deployerRoleDefinitionId" (`az deployment mg show --management-group-id --name`, tsv).
mg_outputs() {
  az deployment mg show --management-group-id "$1" --name "$mg_deployment" --output tsv --query \
    "[properties.outputs.policyAssignmentId.value, properties.outputs.policyDefinitionId.value, \
properties.outputs.roleDefinitionId.value, properties.outputs.deployerRoleDefinitionId.value]" 2>/dev/null | paste -sd$'\t' -
}

uninstall_management_group() { # MG: what managementgroup.bicep deployed at the group, found from its outputs
  local mg="$1" scope="/providers/Microsoft.Management/managementGroups/$1" out assignment definition role deployer
  out="$(mg_outputs "$mg" || true)"
  IFS=$'\t' read -r assignment definition role deployer <<<"$out"
  if [ -z "$assignment" ]; then
    echo "   management group $mg: no $mg_deployment deployment there (nothing to remove)" >&2
    return 0
  fi
  az policy assignment delete --name "${assignment##*/}" --scope "$scope" --output none ||
    echo "   $mg: policy assignment ${assignment##*/} not deleted (already gone?)" >&2
  az policy definition delete --name "${definition##*/}" --management-group "$mg" --output none ||
    echo "   $mg: policy definition ${definition##*/} not deleted (already gone?)" >&2
  for r in "$role" "$deployer"; do
    [ -n "$r" ] || continue
    az role assignment delete --scope "$scope" --role "${r##*/}" --output none ||
      echo "   $mg: no assignment of role ${r##*/}" >&2
    az role definition delete --name "${r##*/}" --scope "$scope" --output none || echo "   $mg: no role ${r##*/}" >&2
  done
  echo "   management group $mg: removed the policy assignment, its definition and the two roles"
}

# ---------------------------------------------------------------------------------------------------
# --uninstall: only what this script created
# ---------------------------------------------------------------------------------------------------

if [ "$uninstall" = true ]; then
  echo "== uninstall of instance $instance: resource group $resource_group ($subscription)"
  principal_id="$(az deployment group show --subscription "$subscription" --resource-group "$resource_group" \
    --name "$main_deployment" --query properties.outputs.identityPrincipalId.value -o tsv 2>/dev/null || true)"
  echo "   will remove, per watched subscription: the event subscription $event_subscription, and the events"
  echo "   resource group $events_group when this script created the system topic and nothing else uses it;"
  echo "   per watched and target subscription: the role \"MPE Approver ...\" and its assignment; then the"
  echo "   resources of the $main_deployment deployment (the whole group only if this script created it)."
  echo "   An adopted system topic (one this script did not create) is never removed."
  [ ${#management_groups[@]} -eq 0 ] || echo "   per management group: the policy assignment and definition, the two roles at the group and"\
    "their assignments (what the policy deployed in each subscription stays: --uninstall --watch <sub> removes it)."
  confirm "remove instance $instance?"
  for sub in ${watch[@]+"${watch[@]}"}; do
    topic="$(find_system_topic "$sub" || true)"
    if [ -z "$topic" ]; then
      echo "   $sub: no system topic"
    else
      IFS=$'\t' read -r t_name t_rg _ <<<"$topic"
      # `az eventgrid system-topic event-subscription delete/list` take --resource-group, --system-topic-name
      # (and --name, --yes for delete), as the CLI's own tests call them (azure-cli eventgrid test_eventgrid_commands.py).
      az eventgrid system-topic event-subscription delete --subscription "$sub" --resource-group "$t_rg" \
        --system-topic-name "$t_name" --name "$event_subscription" --yes --output none ||
        echo "   $sub: event subscription $event_subscription not deleted (already gone?)" >&2
      if [ "$(lower "$t_rg")" = "$(lower "$events_group")" ] && [ "$(lower "$t_name")" = "$(lower "$topic_name")" ]; then
        others="$(az eventgrid system-topic event-subscription list --subscription "$sub" --resource-group "$t_rg" \
          --system-topic-name "$t_name" --query "[].name" -o tsv)"
        if [ -n "$others" ]; then
          echo "   $sub: kept the system topic $t_name: other event subscriptions use it ($(echo "$others" | tr '\n' ' '))"
        else
          echo "   $sub: deleting $events_group (the system topic this script created)"
          az group delete --subscription "$sub" --name "$events_group" --yes --output none
        fi
      else
        echo "   $sub: kept the adopted system topic $t_name in $t_rg (not created by mpe-approver)"
      fi
    fi
  done
  for mg in ${management_groups[@]+"${management_groups[@]}"}; do
    uninstall_management_group "$mg"
  done
  for sub in ${watch[@]+"${watch[@]}"} ${targets_only[@]+"${targets_only[@]}"}; do
    role="$(role_name_for "$sub")"
    if [ -n "$principal_id" ]; then
      az role assignment delete --subscription "$sub" --assignee "$principal_id" --role "$role" \
        --scope "/subscriptions/$sub" --output none || echo "   $sub: no assignment of \"$role\"" >&2
    fi
    az role definition delete --subscription "$sub" --name "$role" --scope "/subscriptions/$sub" --output none ||
      echo "   $sub: no role \"$role\"" >&2
    echo "   $sub: removed the role \"$role\""
  done
  created_by="$(az group show --subscription "$subscription" --name "$resource_group" \
    --query 'tags."mpe-approver-instance"' -o tsv 2>/dev/null || true)"
  if [ "$created_by" = "$instance" ]; then
    az group delete --subscription "$subscription" --name "$resource_group" --yes --output none
    echo "removed: $resource_group (created by deploy.sh for instance $instance)"
  else
    # The group existed before: delete only what main.bicep deployed (the deployment's outputResources).
    mapfile -t ids < <(az deployment group show --subscription "$subscription" --resource-group "$resource_group" \
      --name "$main_deployment" --query "properties.outputResources[].id" -o tsv 2>/dev/null || true)
    # One at a time, then once more for those that failed: the order of outputResources is not the order of
    # dependencies (a plan cannot go before its site).
    failed=()
    for id in ${ids[@]+"${ids[@]}"}; do
      az resource delete --subscription "$subscription" --ids "$id" --output none 2>/dev/null || failed+=("$id")
    done
    for id in ${failed[@]+"${failed[@]}"}; do
      az resource delete --subscription "$subscription" --ids "$id" --output none || die "could not delete $id"
    done
    echo "removed: ${#ids[@]} resource(s) of $main_deployment; kept $resource_group (it was not created by deploy.sh)"
  fi
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Region: Flex Consumption must be offered there
# ---------------------------------------------------------------------------------------------------

# `az functionapp list-flexconsumption-locations` lists the regions with Flex Consumption (its table has a
# Name column: eastus, northeurope, ...; e.g. APCt-okuyama/az-func-learn-python README_11_flex_consumption.md).
if flex="$(az functionapp list-flexconsumption-locations --query "[].name" -o tsv 2>/dev/null)" && [ -n "$flex" ]; then
  want="$(lower "${location// /}")"
  grep -qix -- "$want" <<<"$(echo "$flex" | tr -d ' ')" ||
    die "Flex Consumption is not offered in $location; regions that have it: $(echo "$flex" | tr '\n' ' ')"
else
  echo "deploy: could not list the Flex Consumption regions (older az?); not checking $location" >&2
fi

# ---------------------------------------------------------------------------------------------------
# MPE_ALLOW: what the approver may approve
# ---------------------------------------------------------------------------------------------------

# Unless given as -p allowRules=...: same-subscription, plus every watched subscription or management group ->
# every other watched or targets-only subscription and every watched management group, itself included (a
# group holds many subscriptions), plus --allow.
if [ "$user_allow_rules" = false ]; then
  rules=(same-subscription)
  sources=()
  for w in ${watch[@]+"${watch[@]}"}; do sources+=("/subscriptions/$w"); done
  for mg in ${management_groups[@]+"${management_groups[@]}"}; do
    sources+=("/providers/Microsoft.Management/managementGroups/$mg")
  done
  targets=(${sources[@]+"${sources[@]}"})
  for t in ${targets_only[@]+"${targets_only[@]}"}; do targets+=("/subscriptions/$t"); done
  for s in ${sources[@]+"${sources[@]}"}; do
    for t in ${targets[@]+"${targets[@]}"}; do
      if [ "$(lower "$s")" != "$(lower "$t")" ] || [[ "$s" == /providers/* ]]; then
        rules+=("$s->$t")
      fi
    done
  done
  rules+=(${allow[@]+"${allow[@]}"})
  allow_rules="$(printf '%s\n' "${rules[@]}" | awk '!seen[$0]++' | paste -sd, -)"
  main_params+=("allowRules=$allow_rules")
fi
# MPE_SWEEP_SCOPES: unless given as -p sweepScopes=..., the watched subscriptions: the daily sweep looks for
# MPEs not yet approved where the events come from (the template's empty default falls back to
# sourceSubscriptions, and with those empty too the sweep would have nothing to enumerate).
# The sweep takes subscriptions and resource groups only: a management group's subscriptions are not swept.
if [ "$user_sweep_scopes" = false ] && [ ${#watch[@]} -gt 0 ]; then
  scopes="$(printf '"/subscriptions/%s",' "${watch[@]}")"
  main_params+=("sweepScopes=[${scopes%,}]")
fi
main_params+=("instanceName=$instance")

# ---------------------------------------------------------------------------------------------------
# 1/3 main.bicep
# ---------------------------------------------------------------------------------------------------

echo "== 1/3 main.bicep into $resource_group ($subscription, $location, instance $instance)"
main_args=(--subscription "$subscription" --resource-group "$resource_group" --name "$main_deployment")
template=(--template-file "$repo/infra/main.bicep" --parameters "${main_params[@]}")
if [ "$(az group exists --subscription "$subscription" --name "$resource_group")" = true ]; then
  az deployment group what-if "${main_args[@]}" "${template[@]}"
  confirm "deploy main.bicep into $resource_group as shown?"
else
  echo "   $resource_group does not exist: it is created with everything main.bicep declares"
  confirm "create $resource_group and deploy main.bicep into it?"
  # Tagged so that --uninstall knows it may delete the whole group.
  az group create --subscription "$subscription" --name "$resource_group" --location "$location" \
    --tags "mpe-approver-instance=$instance" --output none
fi
retry 3 30 "" az deployment group create "${main_args[@]}" "${template[@]}" --output none ||
  die "main.bicep failed in $resource_group"
# All outputs the later steps need, in one call (tsv: one value per line, in this order).
outputs="$(az deployment group show "${main_args[@]}" --output tsv --query "[properties.outputs.functionAppName.value, \
properties.outputs.functionAppId.value, properties.outputs.identityPrincipalId.value, \
properties.outputs.storageAccountId.value, properties.outputs.deadLetterContainerName.value, \
properties.outputs.functionAppHostName.value]")"
{ read -r app_name; read -r app_id; read -r principal_id; read -r storage_id; read -r dead_letter_container
  read -r host_name; } <<<"$outputs" || true
for value in "$app_name" "$app_id" "$principal_id" "$storage_id" "$dead_letter_container" "$host_name"; do
  [ -n "$value" ] || die "the main.bicep deployment lacks an output (functionAppName, functionAppId, ...)"
done

# ---------------------------------------------------------------------------------------------------
# 2/3 the code
# ---------------------------------------------------------------------------------------------------

if [ "$skip_code" = true ]; then
  echo "== 2/3 code: skipped (--skip-code)"
else
  echo "== 2/3 code: $package to $app_name"
  # The storage 403 right after the identity's new role assignment on the package container: in this step a
  # 403 is that (the deployer's own rights were enough for step 1).
  retry 5 30 '\b403\b|Forbidden|AuthorizationPermissionMismatch|BlobUploadFailed' \
    az functionapp deployment source config-zip --subscription "$subscription" \
    --resource-group "$resource_group" --name "$app_name" --src "$package" --output none ||
    die "the code deployment failed; run again, or see the app's deployment logs"
fi

# ---------------------------------------------------------------------------------------------------
# 3/3 each subscription
# ---------------------------------------------------------------------------------------------------

opt_in_actions=""
if [ "$role_opt_in" = true ]; then
  # The "Actions" strings of generated/role-opt-in.json, as one JSON array.
  opt_in_actions="[$(grep -oE '"[Mm]icrosoft\.[^" ]+/[^" ]+"' "$repo/infra/generated/role-opt-in.json" |
    grep -v '^"Microsoft\.[^/]*/[^/]*"$' | paste -sd, -)]"
  [ "$opt_in_actions" != "[]" ] || die "no actions found in infra/generated/role-opt-in.json"
fi

sub_params() { # the parameters of subscription.bicep for subscription $1, watchEvents $2, extra key=value...
  local sub="$1" watch_events="$2"
  shift 2
  printf '%s\n' functionAppId="$app_id" identityPrincipalId="$principal_id" deadLetterStorageAccountId="$storage_id" \
    deadLetterContainerName="$dead_letter_container" watchEvents="$watch_events" instanceName="$instance" "$@"
  [ -z "$opt_in_actions" ] || echo "additionalRoleActions=$opt_in_actions"
}

deploy_subscription() { # SUB WATCH_EVENTS [key=value...]
  local sub="$1" params
  mapfile -t params < <(sub_params "$@")
  local args=(--subscription "$sub" --location "$location" --name "$sub_deployment"
    --template-file "$repo/infra/subscription.bicep" --parameters "${params[@]}")
  az deployment sub what-if "${args[@]}" || return 1
  confirm "deploy subscription.bicep into $sub as shown?"
  # Event Grid rejects the event subscription until the host has synced the MpeEvent trigger.
  retry 3 60 'Destination endpoint not found|Endpoint validation' \
    az deployment sub create "${args[@]}" --output none
}

echo "== 3/3 subscriptions: ${#watch[@]} watched, ${#targets_only[@]} targets only, ${#management_groups[@]} management group(s)"
for sub in ${watch[@]+"${watch[@]}"}; do
  echo "   watch $sub"
  # `az provider show` returns the provider with its registrationState (Registered, NotRegistered, ...).
  state="$(az provider show --subscription "$sub" --namespace Microsoft.EventGrid --query registrationState -o tsv)"
  if [ "$state" != Registered ]; then
    echo "   registering the Microsoft.EventGrid resource provider in $sub (it was $state)"
    az provider register --subscription "$sub" --namespace Microsoft.EventGrid --wait --output none ||
      die "could not register Microsoft.EventGrid in $sub (needs */register/action, e.g. Contributor)"
  fi
  extra=()
  topic="$(find_system_topic "$sub")" || die "could not list the Event Grid system topics of $sub"
  if [ -n "$topic" ]; then
    IFS=$'\t' read -r t_name t_rg t_identity <<<"$topic"
    if [ "$(lower "$t_rg")" = "$(lower "$events_group")" ] && [ "$(lower "$t_name")" = "$(lower "$topic_name")" ]; then
      echo "   system topic: $t_name in $t_rg (this instance's own)"
    else
      echo "   system topic: adopting the existing $t_name in $t_rg (Azure allows one per subscription)"
      [[ "$t_identity" == *SystemAssigned* ]] ||
        die "the system topic $t_name in $t_rg has no system-assigned identity, which dead letters need: az eventgrid system-topic update --subscription $sub -g $t_rg -n $t_name --identity systemassigned"
      extra=(useExistingSystemTopic=true existingSystemTopicName="$t_name" eventsResourceGroupName="$t_rg")
    fi
  else
    echo "   system topic: none yet; creating $topic_name in $events_group"
  fi
  deploy_subscription "$sub" true ${extra[@]+"${extra[@]}"} || die "subscription.bicep failed in $sub"
done
for sub in ${targets_only[@]+"${targets_only[@]}"}; do
  echo "   role only $sub"
  deploy_subscription "$sub" false || die "subscription.bicep failed in $sub"
done

for mg in ${management_groups[@]+"${management_groups[@]}"}; do
  echo "   management group $mg: every subscription under it, present and future (Azure Policy)"
  mapfile -t mg_params < <(printf '%s\n' functionAppId="$app_id" identityPrincipalId="$principal_id" \
    deadLetterStorageAccountId="$storage_id" deadLetterContainerName="$dead_letter_container" \
    instanceName="$instance" location="$location"; [ -z "$opt_in_actions" ] || echo "additionalRoleActions=$opt_in_actions")
  mg_args=(--management-group-id "$mg" --location "$location" --name "$mg_deployment"
    --template-file "$repo/infra/managementgroup.bicep" --parameters "${mg_params[@]}")
  az deployment mg what-if "${mg_args[@]}" || die "the what-if of managementgroup.bicep failed at $mg"
  confirm "deploy managementgroup.bicep at management group $mg as shown?"
  # A new policy identity's role assignment takes a while to replicate: PrincipalNotFound is retried.
  retry 3 60 "" az deployment mg create "${mg_args[@]}" --output none ||
    die "managementgroup.bicep failed at management group $mg"
  echo "   $mg: a remediation task deploys the subscriptions the last compliance scan found; for the others, after"
  echo "   the next scan: az policy remediation create --management-group $mg --name mpe-approver-watch-again \\"
  echo "     --policy-assignment \"$(mg_outputs "$mg" | cut -f1)\" --resource-discovery-mode ExistingNonCompliant"
done

watched="${watch[*]+${watch[*]}}${management_groups[*]+ management groups: ${management_groups[*]}}"
echo "deployed: $app_name (https://$host_name), instance $instance, watching ${watched# }"
echo "replay one MPE: POST https://$host_name/api/replay?code=<function key> {\"mpeId\": \"<id>\"}"
