#!/usr/bin/env bash
# Deploys mpe-approver with the Azure CLI: main.bicep into one resource group, the code package, then
# subscription.bicep into every watched subscription (and, role only, into subscriptions that only hold
# target resources). Run it again to update: every step is idempotent.
#
#   infra/deploy.sh --resource-group rg-mpe-approver --location westeurope \
#       [--subscription <id>]            # where the approver lives (default: az's current subscription)
#       [--watch <id>]...                # subscriptions whose MPEs are watched (default: the approver's)
#       [--targets-only <id>]...         # subscriptions that only hold target resources (role only)
#       [--package dist/mpe-approver.zip] [--skip-code]
#       [-p key=value]...                # parameters for main.bicep, e.g. -p dryRun=true
#
# Needs: az (logged in, with Owner or User Access Administrator + Contributor where it deploys), and the
# package built by infra/package.sh. See infra/README.md.
set -euo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

die() {
  echo "deploy: $*" >&2
  exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
resource_group="" location="" subscription="" package="$repo/dist/mpe-approver.zip" skip_code=false
watch=() targets_only=() main_params=()

while [ $# -gt 0 ]; do
  case "$1" in
    -g | --resource-group) resource_group="${2:?--resource-group needs a value}"; shift 2 ;;
    -l | --location) location="${2:?--location needs a value}"; shift 2 ;;
    -s | --subscription) subscription="${2:?--subscription needs a value}"; shift 2 ;;
    --watch) watch+=("${2:?--watch needs a subscription id}"); shift 2 ;;
    --targets-only) targets_only+=("${2:?--targets-only needs a subscription id}"); shift 2 ;;
    --package) package="${2:?--package needs a path}"; shift 2 ;;
    --skip-code) skip_code=true; shift ;;
    -p | --parameter) main_params+=("${2:?-p needs key=value}"); shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "deploy: unknown argument $1" >&2; usage ;;
  esac
done

[ -n "$resource_group" ] || die "--resource-group is required"
[ -n "$location" ] || die "--location is required"
command -v az >/dev/null || die "the Azure CLI (az) is not on PATH"
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
for id in ${watch[@]+"${watch[@]}"} ${targets_only[@]+"${targets_only[@]}"}; do
  [[ "$id" =~ $guid ]] || die "$id is not a subscription id (a GUID)"
done
for kv in ${main_params[@]+"${main_params[@]}"}; do
  [[ "$kv" == *=* ]] || die "-p $kv: expected key=value"
done
if [ "$skip_code" = false ] && [ ! -f "$package" ]; then
  die "$package does not exist: build it with infra/package.sh (or pass --package / --skip-code)"
fi

if [ -z "$subscription" ]; then
  subscription="$(az account show --query id -o tsv)" || die "az is not logged in (az login)"
fi
[[ "$subscription" =~ $guid ]] || die "$subscription is not a subscription id (a GUID)"
[ ${#watch[@]} -gt 0 ] || watch=("$subscription")

# Retries a command that can fail while new role assignments propagate (minutes, at worst).
retry() {
  local attempts="$1" pause="$2" n=1
  shift 2
  until "$@"; do
    [ "$n" -lt "$attempts" ] || return 1
    echo "deploy: attempt $n of $attempts failed; retrying in ${pause}s (new role assignments take a while to apply)" >&2
    sleep "$pause"
    n=$((n + 1))
  done
}

echo "== 1/3 main.bicep into $resource_group ($subscription, $location)"
az group create --subscription "$subscription" --name "$resource_group" --location "$location" --output none
main_args=(--subscription "$subscription" --resource-group "$resource_group" --name mpe-approver-main)
extra=()
[ ${#main_params[@]} -eq 0 ] || extra=(--parameters "${main_params[@]}")
az deployment group create "${main_args[@]}" --template-file "$repo/infra/main.bicep" ${extra[@]+"${extra[@]}"} --output none
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

if [ "$skip_code" = true ]; then
  echo "== 2/3 code: skipped (--skip-code)"
else
  echo "== 2/3 code: $package to $app_name"
  retry 5 30 az functionapp deployment source config-zip --subscription "$subscription" \
    --resource-group "$resource_group" --name "$app_name" --src "$package" --output none ||
    die "the code deployment failed; run again, or see the app's deployment logs"
fi

deploy_subscription() {
  local sub="$1" watch_events="$2"
  az deployment sub create --subscription "$sub" --location "$location" --name mpe-approver-subscription \
    --template-file "$repo/infra/subscription.bicep" --output none --parameters \
    functionAppId="$app_id" identityPrincipalId="$principal_id" deadLetterStorageAccountId="$storage_id" \
    deadLetterContainerName="$dead_letter_container" watchEvents="$watch_events"
}

echo "== 3/3 subscriptions: ${#watch[@]} watched, ${#targets_only[@]} targets only"
for sub in "${watch[@]}"; do
  echo "   watch $sub"
  # The event subscription needs the MpeEvent function, which appears once the host has synced triggers.
  retry 3 60 deploy_subscription "$sub" true || die "subscription.bicep failed in $sub"
done
for sub in ${targets_only[@]+"${targets_only[@]}"}; do
  echo "   role only $sub"
  retry 3 30 deploy_subscription "$sub" false || die "subscription.bicep failed in $sub"
done

echo "deployed: $app_name (https://$host_name), watching ${watch[*]}"
echo "replay one MPE: POST https://$host_name/api/replay?code=<function key> {\"mpeId\": \"<id>\"}"
