//! Configuration from the environment (Functions app settings). These names are a public contract;
//! docs/configuration.md documents each. Invalid configuration fails at start with a message naming the setting.

use crate::naming::EndpointNames;
use crate::pls::{MessageRules, Watched};
pub use crate::policy::AllowList;
use crate::policy::Policy;
use crate::resource_id::{ListScope, ResourceId};
use crate::schedule::{parse_duration, Schedule};
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    pub queue: String,
    pub parking_queue: String,
    pub arm_endpoint: Url,
    pub arm_audience: String,
    pub servicebus_endpoint: Url,
    pub servicebus_audience: String,
    /// `AZURE_CLIENT_ID`: the user-assigned identity to use, if any.
    pub client_id: Option<String>,
    /// Delay before the first check after an event.
    pub first_check_delay: Duration,
    pub schedule: Schedule,
    /// `MPE_LEARN_READINESS`: checks of an MPE not ready yet follow how long its service took before.
    pub learn_readiness: bool,
    pub dry_run: bool,
    /// Subscriptions whose MPEs we act on; empty = all.
    pub source_subscriptions: AllowList,
    /// Subscriptions whose PECs we may approve; empty = all.
    pub target_subscriptions: AllowList,
    /// How long a message may live on the queue before Service Bus drops it.
    pub message_ttl: Duration,
    /// `MPE_ALLOW`: which sources may be approved to which targets (default: same subscription).
    pub policy: Policy,
    /// How long each function may run, whatever its dependencies do.
    pub budgets: Budgets,
    /// `MPE_REPLAY_MAX`: messages one `MpeReplay` call moves at most.
    pub replay_max: u32,
    /// `MPE_REPLAY_ROLE`: the app role an `MpeReplay` caller must hold (App Service authentication).
    pub replay_role: Option<String>,
    /// `MPE_SERVICEBUS_RESOURCE_ID`: the namespace, for queue depths through ARM.
    pub servicebus_resource_id: Option<ResourceId>,
    /// `MPE_SWEEP_SCHEDULE`: read by the host from function.json; checked here so a typo fails at start.
    pub sweep_schedule: String,
    /// `MPE_SWEEP_SCOPES` (default: the source subscriptions).
    pub sweep_scopes: Vec<ListScope>,
    /// `MPE_SWEEP_MAX_CALLS`.
    pub sweep_max_calls: u32,
    /// `MPE_ENDPOINT_NAMES`: the operator's private endpoint naming rules, per MPE type.
    pub endpoint_names: EndpointNames,
    /// `MPE_CUSTOMER_ENDPOINTS`: approve customers' own private endpoints with a manual connection.
    pub customer_endpoints: bool,
    /// `MPE_PLS_*`: the Private Link Services the `MpePlsScan` timer reads, and its rules.
    pub pls: PlsSettings,
    /// The data-plane sources turned on (`MPE_SYNAPSE`, `MPE_DATABRICKS`, `MPE_FABRIC`: each provider's
    /// [`crate::providers::Provider::opt_in`] setting other than `MPE_CUSTOMER_ENDPOINTS`).
    pub sources_on: Vec<&'static str>,
    /// Where each data plane that keeps MPEs outside ARM is reached ([`crate::providers::DataPlane`]).
    pub data_planes: Vec<DataPlaneEndpoint>,
    /// `MPE_DISCOVER_SCHEDULE`: read by the host from function.json; checked here so a typo fails at start.
    pub discover_schedule: String,
    /// `MPE_DISCOVER_MAX_CALLS`.
    pub discover_max_calls: u32,
}

/// One data plane's endpoint and token audience, from its provider's settings
/// (`MPE_SYNAPSE_ENDPOINT`, `MPE_SYNAPSE_AUDIENCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPlaneEndpoint {
    /// The MPE type it serves.
    pub resource_type: &'static str,
    /// The endpoint, with the provider's placeholder for the parent's name
    /// (`https://{workspace}.dev.azuresynapse.net`).
    pub endpoint: String,
    pub audience: String,
    /// The MPEs' parents a setting names, for a data plane whose parents are not found through ARM
    /// (Databricks' NCCs, `MPE_DATABRICKS_NCCS`).
    pub parents: Vec<ResourceId>,
}

/// The settings of the Private Link Service scan (`MpePlsScan`, `mpe-approver pls-scan`).
#[derive(Debug, Clone)]
pub struct PlsSettings {
    /// `MPE_PLS_WATCH`: PLS ids, subscriptions and resource groups (empty: nothing is scanned).
    pub watch: Vec<Watched>,
    /// `MPE_PLS_SCHEDULE`: read by the host from function.json; checked here so a typo fails at start.
    pub schedule: String,
    /// `MPE_PLS_ALLOW`: which consumers' private endpoints may be approved on which PLS.
    pub allow: Policy,
    /// `MPE_PLS_REQUIRE_MESSAGE`.
    pub messages: MessageRules,
    /// `MPE_PLS_REJECT_AFTER` (`None`: off).
    pub reject_after: Option<Duration>,
    /// `MPE_PLS_MAX_CALLS`.
    pub max_calls: u32,
}

/// Time budgets per invocation (`MPE_EVENT_BUDGET`, `MPE_CHECK_BUDGET`, `MPE_REPLAY_BUDGET`), in real time.
/// Event Grid waits about 30 s for an answer and the host kills an invocation at `functionTimeout`
/// (2 min in `host.json`): past its budget an invocation gives up cleanly (the check reschedules or
/// fails for redelivery) instead of being killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub event: Duration,
    pub check: Duration,
    pub replay: Duration,
    pub sweep: Duration,
    pub pls: Duration,
    pub discover: Duration,
}

/// The host's `functionTimeout` (host.json); every budget must stay below it.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

/// A setting's default: a value the code uses when the setting is unset, or a description of what
/// happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingDefault {
    Value(&'static str),
    Text(&'static str),
}

/// One row of the configuration contract: the table in docs/configuration.md is checked against these rows
/// (`tests/settings_table.rs`), `infra/main.bicep` must wire every handler setting (`tests/infra_drift.rs`),
/// and [`Config::from_lookup`] takes its defaults from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub default: SettingDefault,
    pub meaning: &'static str,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Setting {
    /// The documented cell for the default (docs/configuration.md).
    pub fn default_cell(&self) -> String {
        match self.default {
            SettingDefault::Value(v) => format!("`{v}`"),
            SettingDefault::Text(t) => t.to_string(),
        }
    }
}

const fn row(name: &'static str, default: SettingDefault, meaning: &'static str) -> Setting {
    Setting { name, default, meaning }
}
use SettingDefault::{Text, Value};

/// Every setting [`Config::from_lookup`] reads (the configuration contract), written down once. A test
/// checks this list against what `from_lookup` actually asks for.
pub const SETTINGS: &[Setting] = &[
    row("ServiceBusConnection__fullyQualifiedNamespace", Text("— (required in Azure)"), "`<ns>.servicebus.windows.net`; also used by the Functions host's Service Bus trigger"),
    row("MPE_QUEUE_NAME", Value("mpe-approvals"), "the work queue (the Service Bus trigger reads `%MPE_QUEUE_NAME%`)"),
    row("MPE_PARKING_QUEUE_NAME", Value("mpe-approvals-parked"), "where items that cannot succeed go, with `parkreason` and `parkcode` properties"),
    row("AZURE_CLIENT_ID", Text("—"), "client id of the user-assigned managed identity to use"),
    row("MPE_ARM_ENDPOINT", Value(DEFAULT_ARM_ENDPOINT), "ARM base URL (sovereign clouds; `http://127.0.0.1:<port>/...` for local tests)"),
    row("MPE_SERVICEBUS_ENDPOINT", Text("`https://<fullyQualifiedNamespace>`"), "Service Bus base URL; messages go to `<endpoint>/<queue>/messages`"),
    row("MPE_ARM_AUDIENCE", Value(DEFAULT_ARM_AUDIENCE), "token audience for ARM (sovereign clouds)"),
    row("MPE_SERVICEBUS_AUDIENCE", Value(DEFAULT_SERVICEBUS_AUDIENCE), "token audience for Service Bus"),
    row("MPE_FIRST_CHECK_DELAY", Value("2s"), "delay from the event to the first check, at least (the check lands on its parent's grid: within one more interval)"),
    row("MPE_CHECK_SCHEDULE", Value("2s*15,3s*20,10s*24,30s"), "intervals between checks: `interval*count`, the last repeats (2 s for 30 s, 3 s to 90 s, 10 s to 5.5 min, then 30 s)"),
    row("MPE_CHECK_JITTER", Value("0.1"), "± fraction of an interval each check instant moves by (0–0.5), deterministic, the same for every MPE of one parent (they are checked together)"),
    row("MPE_LEARN_READINESS", Value("false"), "`true`: once this instance has seen 10 MPEs of one service turn pending, the checks of the next ones not ready yet follow what it saw: dense where readiness crowds and for a parent with many MPEs waiting, sparse before anything was ever ready, never sparser than twice `MPE_CHECK_SCHEDULE` (faster approvals for a few percent more ARM reads; see docs/how-it-works.md); `false`: `MPE_CHECK_SCHEDULE` alone"),
    row("MPE_GIVE_UP_AFTER", Value("2h"), "stop checking and park the item after this long"),
    row("MPE_MESSAGE_TTL", Value("24h"), "time-to-live of queued work items"),
    row("MPE_DRY_RUN", Value("false"), "decide and log \"would approve\", change nothing"),
    row("MPE_SOURCE_SUBSCRIPTIONS", Text("all"), "comma-separated subscription ids (or management groups, `/providers/Microsoft.Management/managementGroups/<id>`: the subscriptions under them) whose MPEs are handled"),
    row("MPE_TARGET_SUBSCRIPTIONS", Text("all"), "comma-separated subscription ids (or management groups, as above) whose PECs may be approved"),
    row("MPE_EVENT_BUDGET", Value("20s"), "time budget of one `MpeEvent` invocation (Event Grid waits about 30 s)"),
    row("MPE_CHECK_BUDGET", Value("60s"), "time budget of one `MpeCheck` invocation; past it the check is rescheduled or redelivered"),
    row("MPE_REPLAY_BUDGET", Value("20s"), "time budget of one `MpeReplay` invocation"),
    row("MPE_ALLOW", Value("same-subscription"), "approval rules, comma-separated: `same-subscription` or `<source scope>-><target scope>`, a scope being `*`, a subscription, resource group or resource id, or a management group `/providers/Microsoft.Management/managementGroups/<id>` (its subscriptions, read from ARM every 10 min; see \"Approval policy\" and \"Management groups\")"),
    row("MPE_REPLAY_MAX", Value("10"), "queued messages one `MpeReplay` call moves at most (1–100); the CLI's `--max` defaults to 100"),
    row("MPE_REPLAY_ROLE", Text("— (function key only)"), "app role a caller of `MpeReplay` must hold, read from the `X-MS-CLIENT-PRINCIPAL` header App Service authentication adds (`infra/` sets `MpeReplay.Operator`)"),
    row("MPE_SERVICEBUS_RESOURCE_ID", Text("—"), "ARM id of the Service Bus namespace: `status` reads queue depths from it (`countDetails`)"),
    row("MPE_SWEEP_SCHEDULE", Value("0 30 3 * * *"), "NCRONTAB schedule of the `MpeSweep` timer (function.json reads `%MPE_SWEEP_SCHEDULE%`): daily at 03:30 UTC"),
    row("MPE_SWEEP_SCOPES", Text("the `MPE_SOURCE_SUBSCRIPTIONS`"), "comma-separated subscription or resource group ids the sweep enumerates for MPEs not yet approved"),
    row("MPE_SWEEP_BUDGET", Value("100s"), "time budget of one `MpeSweep` run"),
    row("MPE_SWEEP_MAX_CALLS", Value("500"), "ARM calls one sweep run may make; past it the run stops and says what it did not reach"),
    row("MPE_CUSTOMER_ENDPOINTS", Value("false"), "`true`: also approve customers' own private endpoints with a manual connection (`Microsoft.Network/privateEndpoints`), as the approval policy allows; `false`: their write events are ignored"),
    row("MPE_ENDPOINT_NAMES", Text("— (each provider's own rule)"), "replaces a provider's private endpoint naming rule: `<MPE type>=<pattern>`, `;`-separated; a pattern is literal `A-Za-z0-9._-` with `{mpe}` (required) and `{parent}` (see \"When a naming rule is wrong\")"),
    row("MPE_PLS_WATCH", Text("— (none)"), "comma-separated Private Link Service ids, and subscription or resource group ids whose Private Link Services are listed, that `MpePlsScan` reads for Pending connections (see docs/private-link-service.md)"),
    row("MPE_PLS_SCHEDULE", Value("0 * * * * *"), "NCRONTAB schedule of the `MpePlsScan` timer (function.json reads `%MPE_PLS_SCHEDULE%`): every minute"),
    row("MPE_PLS_ALLOW", Value("same-subscription"), "which consumers may be approved on which Private Link Service: `MPE_ALLOW`'s grammar, the source being the consumer's private endpoint and the target the Private Link Service; a separate setting, so that no MPE rule admits a stranger"),
    row("MPE_PLS_REQUIRE_MESSAGE", Text("— (none)"), "JSON object `{\"<scope>\": \"<regex>\"}`: a connection to a Private Link Service under the scope (`*`, subscription, resource group or Private Link Service id; the most specific wins) is approved only when its request message matches the regex whole (anchored); `\"\"` requires nothing"),
    row("MPE_PLS_REJECT_AFTER", Value("off"), "reject a connection left Pending because no rule allows it or its message does not match, once the app has seen it Pending this long (a duration up to `720h`), with a description saying why; `off`: never reject"),
    row("MPE_PLS_BUDGET", Value("50s"), "time budget of one `MpePlsScan` run"),
    row("MPE_PLS_MAX_CALLS", Value("100"), "ARM calls one `MpePlsScan` run may make (an approval or rejection counts 10, the most it makes); past it the run stops and says what it did not read"),
    row("MPE_SYNAPSE", Value("false"), "`true`: also discover and approve the managed private endpoints of Synapse workspaces under the sweep scopes (their data plane: no ARM event; the identity needs Synapse RBAC on each workspace, see docs/discovery.md), as the approval policy allows"),
    row("MPE_SYNAPSE_ENDPOINT", Value("https://{workspace}.dev.azuresynapse.net"), "a Synapse workspace's data plane, `{workspace}` standing for the workspace's name (sovereign clouds; `http://127.0.0.1:<port>/...` for local tests)"),
    row("MPE_SYNAPSE_AUDIENCE", Value("https://dev.azuresynapse.net"), "token audience for the Synapse data plane"),
    row("MPE_DATABRICKS", Value("false"), "`true`: also discover and approve the private endpoint rules of the Databricks network connectivity configurations `MPE_DATABRICKS_NCCS` names (the account API: no Azure event; the identity must be a Databricks account admin, see docs/discovery.md), as the approval policy allows"),
    row("MPE_DATABRICKS_NCCS", Text("— (none)"), "the NCCs whose rules `MpeDiscover` lists: `<account id>/<NCC id>@/subscriptions/<id>/resourceGroups/<name>`, comma-separated; the resource group is where the approver files the NCC (its subscription is the source the approval policy compares with the target's)"),
    row("MPE_DATABRICKS_ENDPOINT", Value("https://accounts.azuredatabricks.net"), "the Databricks account API (`http://127.0.0.1:<port>/...` for local tests)"),
    row("MPE_DATABRICKS_AUDIENCE", Value("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"), "token audience for the account API: the Azure Databricks application"),
    row("MPE_FABRIC", Value("false"), "`true`: also discover the managed private endpoints of the Fabric workspaces `MPE_FABRIC_WORKSPACES` names (the Fabric REST API: no Azure event; the identity needs the viewer role on each workspace, see docs/discovery.md); Fabric publishes nothing that ties a PEC to its MPE, so one is approved only under an `MPE_ENDPOINT_NAMES` rule for `MpeApprover.Fabric/workspaces/managedPrivateEndpoints`, and parked `evidence-mismatch` without one"),
    row("MPE_FABRIC_WORKSPACES", Text("— (none)"), "the Fabric workspaces whose MPEs `MpeDiscover` lists: `<workspace id>@/subscriptions/<id>/resourceGroups/<name>`, comma-separated; the resource group is where the approver files the workspace (its subscription is the source the approval policy compares with the target's)"),
    row("MPE_FABRIC_ENDPOINT", Value("https://api.fabric.microsoft.com"), "the Fabric REST API (`http://127.0.0.1:<port>/...` for local tests)"),
    row("MPE_FABRIC_AUDIENCE", Value("https://api.fabric.microsoft.com"), "token audience for the Fabric REST API"),
    row("MPE_DISCOVER_SCHEDULE", Value("0 * * * * *"), "NCRONTAB schedule of the `MpeDiscover` timer (function.json reads `%MPE_DISCOVER_SCHEDULE%`), which lists the MPEs of sources that raise no ARM event (Synapse, Databricks, Fabric) and queues a check of each one not yet approved: every minute"),
    row("MPE_DISCOVER_BUDGET", Value("50s"), "time budget of one `MpeDiscover` run (keep it below the schedule's interval)"),
    row("MPE_DISCOVER_MAX_CALLS", Value("200"), "ARM and data-plane calls one `MpeDiscover` run may make; past it the run stops and says what it did not reach (the next run starts elsewhere)"),
];

/// Variables the process reads that are not the handler's configuration: set by the platform, or read by
/// the logging and credential libraries. Listed in docs/configuration.md's table too.
pub const ENVIRONMENT: &[Setting] = &[
    row("IDENTITY_ENDPOINT", Text("set by App Service"), "the managed identity endpoint, read by azure_identity"),
    row("IDENTITY_HEADER", Text("set by App Service"), "the secret header for that endpoint, read by azure_identity"),
    row(
        "MPE_USE_IMDS",
        Text("unset"),
        "set (to anything) to use the managed identity where App Service's `IDENTITY_ENDPOINT` is absent (a VM's IMDS)",
    ),
    row("RUST_LOG", Value("info"), "log filter"),
    row("MPE_LOG_FORMAT", Text("text"), "`json` for JSON log lines (what `infra/` sets)"),
    row(
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        Text("set by the host"),
        "the port to serve on; when set, the binary serves without arguments",
    ),
];

/// What the process reads beside the handler's settings ([`ENVIRONMENT`]), read here as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessEnv {
    /// `MPE_LOG_FORMAT=json`: JSON log lines.
    pub json_logs: bool,
    /// `FUNCTIONS_CUSTOMHANDLER_PORT` as set (see [`ProcessEnv::port`]).
    pub handler_port: Option<String>,
    /// Use the managed identity: App Service's `IDENTITY_ENDPOINT` or `MPE_USE_IMDS` is set.
    pub managed_identity: bool,
}

impl ProcessEnv {
    pub fn from_env() -> ProcessEnv {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProcessEnv {
        ProcessEnv {
            json_logs: get("MPE_LOG_FORMAT").is_some_and(|v| v.trim().eq_ignore_ascii_case("json")),
            handler_port: get("FUNCTIONS_CUSTOMHANDLER_PORT"),
            managed_identity: get("IDENTITY_ENDPOINT").is_some() || get("MPE_USE_IMDS").is_some(),
        }
    }

    /// The port the host asks the handler to serve on.
    pub fn port(&self) -> Result<u16, ConfigError> {
        let raw = self.handler_port.as_deref().ok_or_else(|| ConfigError {
            setting: "FUNCTIONS_CUSTOMHANDLER_PORT",
            reason: "not set; pass --port".into(),
        })?;
        raw.trim().parse().map_err(|_| ConfigError {
            setting: "FUNCTIONS_CUSTOMHANDLER_PORT",
            reason: format!("{} is not a port number", crate::logsafe::q(raw)),
        })
    }
}

/// The default value of a handler setting, from [`SETTINGS`].
fn default_value(name: &str) -> Option<&'static str> {
    SETTINGS.iter().find(|s| s.name == name).and_then(|s| match s.default {
        Value(v) => Some(v),
        Text(_) => None,
    })
}

pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_ARM_AUDIENCE: &str = "https://management.azure.com";
pub const DEFAULT_SERVICEBUS_AUDIENCE: &str = "https://servicebus.azure.net";

fn parse_url(setting: &'static str, s: &str) -> Result<Url, ConfigError> {
    let u = Url::parse(s.trim()).map_err(|e| bad(setting, format!("{s:?} is not a URL: {e}")))?;
    match u.scheme() {
        "https" => {}
        "http" if matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
        _ => return Err(bad(setting, format!("{s:?}: https required (http only for 127.0.0.1/localhost)"))),
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad(setting, "must not carry a query or fragment"));
    }
    Ok(u)
}

/// A data plane's endpoint: a URL as [`parse_url`] takes it once `placeholder` (which it must hold, once)
/// stands for a parent's name.
fn data_plane_endpoint(setting: &'static str, s: &str, placeholder: &str) -> Result<(), ConfigError> {
    if s.matches(placeholder).count() != 1 {
        return Err(bad(setting, format!("{s:?} must hold {placeholder} once (where the parent's name goes)")));
    }
    parse_url(setting, &s.replace(placeholder, "example")).map(|_| ())
}

fn queue_name(setting: &'static str, s: &str) -> Result<String, ConfigError> {
    let ok = (1..=260).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !s.starts_with(['/', '.'])
        && !s.ends_with(['/', '.']);
    if ok {
        Ok(s.to_string())
    } else {
        Err(bad(setting, format!("{s:?} is not a valid queue name")))
    }
}

fn duration(setting: &'static str, s: &str) -> Result<Duration, ConfigError> {
    parse_duration(s).ok_or_else(|| bad(setting, format!("{s:?} is not a duration like 500ms, 5s, 2m, 1h")))
}

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let set = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        // Unset settings take the table's default (a setting without a default value stays unset).
        let get = |k: &str| set(k).or_else(|| default_value(k).map(str::to_string));
        let queue = queue_name("MPE_QUEUE_NAME", &get("MPE_QUEUE_NAME").unwrap_or_default())?;
        let parking_queue = queue_name("MPE_PARKING_QUEUE_NAME", &get("MPE_PARKING_QUEUE_NAME").unwrap_or_default())?;
        if queue.eq_ignore_ascii_case(&parking_queue) {
            return Err(bad("MPE_PARKING_QUEUE_NAME", "must differ from MPE_QUEUE_NAME"));
        }
        let arm_endpoint = parse_url("MPE_ARM_ENDPOINT", &get("MPE_ARM_ENDPOINT").unwrap_or_default())?;
        let servicebus_endpoint = match (
            get("MPE_SERVICEBUS_ENDPOINT"),
            get("ServiceBusConnection__fullyQualifiedNamespace"),
        ) {
            (Some(e), _) => parse_url("MPE_SERVICEBUS_ENDPOINT", &e)?,
            (None, Some(ns)) => {
                if !ns.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
                    return Err(bad(
                        "ServiceBusConnection__fullyQualifiedNamespace",
                        format!("{ns:?} is not a host name like <ns>.servicebus.windows.net"),
                    ));
                }
                parse_url("ServiceBusConnection__fullyQualifiedNamespace", &format!("https://{ns}"))?
            }
            (None, None) => return Err(bad(
                "ServiceBusConnection__fullyQualifiedNamespace",
                "required (or MPE_SERVICEBUS_ENDPOINT): the Service Bus namespace, e.g. myns.servicebus.windows.net",
            )),
        };
        let mut schedule = Schedule::default();
        if let Some(s) = get("MPE_CHECK_SCHEDULE") {
            let (steps, then) = Schedule::parse_steps(&s).map_err(|e| bad("MPE_CHECK_SCHEDULE", e.to_string()))?;
            schedule.steps = steps;
            schedule.then = then;
        }
        if let Some(s) = get("MPE_GIVE_UP_AFTER") {
            schedule.give_up_after = duration("MPE_GIVE_UP_AFTER", &s)?;
        }
        if let Some(s) = get("MPE_CHECK_JITTER") {
            let j: f64 = s.parse().map_err(|_| bad("MPE_CHECK_JITTER", format!("{s:?} is not a number")))?;
            if !(0.0..=0.5).contains(&j) {
                return Err(bad("MPE_CHECK_JITTER", "must be between 0 and 0.5"));
            }
            schedule.jitter = j;
        }
        let first_check_delay = duration("MPE_FIRST_CHECK_DELAY", &get("MPE_FIRST_CHECK_DELAY").unwrap_or_default())?;
        let message_ttl = duration("MPE_MESSAGE_TTL", &get("MPE_MESSAGE_TTL").unwrap_or_default())?;
        let flag = |k: &'static str| match get(k).map(|s| s.to_ascii_lowercase()) {
            None => Ok(false),
            Some(s) if matches!(s.as_str(), "1" | "true" | "yes") => Ok(true),
            Some(s) if matches!(s.as_str(), "0" | "false" | "no") => Ok(false),
            Some(s) => Err(bad(k, format!("{s:?}: use true or false"))),
        };
        let dry_run = flag("MPE_DRY_RUN")?;
        let learn_readiness = flag("MPE_LEARN_READINESS")?;
        let customer_endpoints = flag("MPE_CUSTOMER_ENDPOINTS")?;
        let policy = Policy::parse(set("MPE_ALLOW").as_deref()).map_err(|e| bad("MPE_ALLOW", e))?;
        let budget = |k: &'static str| -> Result<Duration, ConfigError> {
            let d = duration(k, &get(k).unwrap_or_default())?;
            if d.is_zero() || d >= FUNCTION_TIMEOUT {
                return Err(bad(
                    k,
                    format!("must be above 0 and below the host's functionTimeout ({}s)", FUNCTION_TIMEOUT.as_secs()),
                ));
            }
            Ok(d)
        };
        let budgets = Budgets {
            event: budget("MPE_EVENT_BUDGET")?,
            check: budget("MPE_CHECK_BUDGET")?,
            replay: budget("MPE_REPLAY_BUDGET")?,
            sweep: budget("MPE_SWEEP_BUDGET")?,
            pls: budget("MPE_PLS_BUDGET")?,
            discover: budget("MPE_DISCOVER_BUDGET")?,
        };
        let count = |k: &'static str, range: std::ops::RangeInclusive<u32>| -> Result<u32, ConfigError> {
            let s = get(k).unwrap_or_default();
            s.parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| bad(k, format!("{s:?} is not a whole number from {} to {}", range.start(), range.end())))
        };
        let replay_max = count("MPE_REPLAY_MAX", 1..=100)?;
        let sweep_max_calls = count("MPE_SWEEP_MAX_CALLS", 1..=100_000)?;
        let replay_role = get("MPE_REPLAY_ROLE");
        if let Some(r) = &replay_role {
            if r.len() > 120 || !r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
                return Err(bad("MPE_REPLAY_ROLE", format!("{r:?} is not an app role value")));
            }
        }
        let servicebus_resource_id = match get("MPE_SERVICEBUS_RESOURCE_ID") {
            None => None,
            Some(s) => {
                let id = ResourceId::parse(&s).map_err(|e| bad("MPE_SERVICEBUS_RESOURCE_ID", e.to_string()))?;
                if !id.is_type("Microsoft.ServiceBus/namespaces") {
                    return Err(bad(
                        "MPE_SERVICEBUS_RESOURCE_ID",
                        format!("{s:?} is not a Microsoft.ServiceBus/namespaces id"),
                    ));
                }
                Some(id)
            }
        };
        let sweep_schedule = get("MPE_SWEEP_SCHEDULE").unwrap_or_default();
        if sweep_schedule.split_whitespace().count() != 6 {
            return Err(bad(
                "MPE_SWEEP_SCHEDULE",
                format!("{sweep_schedule:?} is not an NCRONTAB expression (six fields: second minute hour day month weekday)"),
            ));
        }
        let sweep_scopes = match set("MPE_SWEEP_SCOPES") {
            Some(s) => s
                .split([',', ';', ' '])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| ListScope::parse(p).map_err(|e| bad("MPE_SWEEP_SCOPES", e)))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let endpoint_names = EndpointNames::parse(&set("MPE_ENDPOINT_NAMES").unwrap_or_default())
            .map_err(|e| bad("MPE_ENDPOINT_NAMES", e))?;
        let pls = PlsSettings {
            watch: crate::pls::parse_watch(&get("MPE_PLS_WATCH").unwrap_or_default())
                .map_err(|e| bad("MPE_PLS_WATCH", e))?,
            schedule: get("MPE_PLS_SCHEDULE").unwrap_or_default(),
            allow: Policy::parse_setting("MPE_PLS_ALLOW", "private endpoints", set("MPE_PLS_ALLOW").as_deref())
                .map_err(|e| bad("MPE_PLS_ALLOW", e))?,
            messages: MessageRules::parse(set("MPE_PLS_REQUIRE_MESSAGE").as_deref())
                .map_err(|e| bad("MPE_PLS_REQUIRE_MESSAGE", e))?,
            reject_after: crate::pls::parse_reject_after(&get("MPE_PLS_REJECT_AFTER").unwrap_or_default())
                .map_err(|e| bad("MPE_PLS_REJECT_AFTER", e))?,
            max_calls: count("MPE_PLS_MAX_CALLS", 1..=100_000)?,
        };
        if let Some(g) = pls.allow.groups().first() {
            return Err(bad(
                "MPE_PLS_ALLOW",
                format!(
                    "{}{g}: management group scopes are read in MPE_ALLOW only; name the subscriptions here",
                    crate::policy::GROUP_PREFIX
                ),
            ));
        }
        if pls.schedule.split_whitespace().count() != 6 {
            return Err(bad(
                "MPE_PLS_SCHEDULE",
                format!(
                    "{:?} is not an NCRONTAB expression (six fields: second minute hour day month weekday)",
                    pls.schedule
                ),
            ));
        }
        let discover_schedule = get("MPE_DISCOVER_SCHEDULE").unwrap_or_default();
        if discover_schedule.split_whitespace().count() != 6 {
            return Err(bad(
                "MPE_DISCOVER_SCHEDULE",
                format!(
                    "{discover_schedule:?} is not an NCRONTAB expression (six fields: second minute hour day month weekday)"
                ),
            ));
        }
        let discover_max_calls = count("MPE_DISCOVER_MAX_CALLS", 1..=100_000)?;
        let mut data_planes = Vec::new();
        for p in crate::providers::registry() {
            let Some(dp) = p.data_plane() else { continue };
            let endpoint = get(dp.endpoint_setting).unwrap_or_else(|| dp.default_endpoint.to_string());
            let parents = match dp.parents {
                crate::providers::Parents::Arm { placeholder, .. } => {
                    data_plane_endpoint(dp.endpoint_setting, &endpoint, placeholder)?;
                    Vec::new()
                }
                crate::providers::Parents::Setting(setting) => {
                    parse_url(dp.endpoint_setting, &endpoint)?;
                    p.data_plane_parents(&get(setting).unwrap_or_default()).map_err(|e| bad(setting, e))?
                }
            };
            let audience = get(dp.audience_setting).unwrap_or_else(|| dp.default_audience.to_string());
            data_planes.push(DataPlaneEndpoint {
                resource_type: p.resource_type(),
                endpoint: endpoint.trim_end_matches('/').to_string(),
                audience,
                parents,
            });
        }
        let mut sources_on = Vec::new();
        for setting in crate::providers::registry().iter().filter_map(|p| p.opt_in()) {
            if setting != "MPE_CUSTOMER_ENDPOINTS" && !sources_on.contains(&setting) && flag(setting)? {
                sources_on.push(setting);
            }
        }
        let client_id = get("AZURE_CLIENT_ID");
        if let Some(c) = &client_id {
            if uuid::Uuid::parse_str(c).is_err() {
                return Err(bad("AZURE_CLIENT_ID", format!("{c:?} is not a GUID")));
            }
        }
        let config = Config {
            queue,
            parking_queue,
            arm_endpoint,
            arm_audience: get("MPE_ARM_AUDIENCE").unwrap_or_default(),
            servicebus_endpoint,
            servicebus_audience: get("MPE_SERVICEBUS_AUDIENCE").unwrap_or_default(),
            client_id,
            first_check_delay,
            schedule,
            learn_readiness,
            dry_run,
            source_subscriptions: AllowList::parse(
                "MPE_SOURCE_SUBSCRIPTIONS",
                &get("MPE_SOURCE_SUBSCRIPTIONS").unwrap_or_default(),
            )
            .map_err(|e| bad("MPE_SOURCE_SUBSCRIPTIONS", e))?,
            target_subscriptions: AllowList::parse(
                "MPE_TARGET_SUBSCRIPTIONS",
                &get("MPE_TARGET_SUBSCRIPTIONS").unwrap_or_default(),
            )
            .map_err(|e| bad("MPE_TARGET_SUBSCRIPTIONS", e))?,
            message_ttl,
            policy,
            budgets,
            replay_max,
            replay_role,
            servicebus_resource_id,
            sweep_schedule,
            sweep_scopes,
            sweep_max_calls,
            endpoint_names,
            customer_endpoints,
            pls,
            sources_on,
            data_planes,
            discover_schedule,
            discover_max_calls,
        };
        // A watched Private Link Service's connections are PECs in its subscription: the coarse filter holds.
        for w in &config.pls.watch {
            let sub = match w {
                Watched::Pls(id) => id.subscription(),
                Watched::Scope(s) => s.subscription(),
            };
            if let Some(why) = config.target_subscriptions.refusal(sub) {
                return Err(bad("MPE_PLS_WATCH", format!("{w}: {why}, so nothing there may be approved")));
            }
        }
        Ok(config)
    }

    /// What the sweep enumerates: `MPE_SWEEP_SCOPES`, or else every subscription of
    /// `MPE_SOURCE_SUBSCRIPTIONS` (empty when neither names one: nothing to sweep).
    pub fn sweep_scopes(&self) -> Vec<ListScope> {
        if !self.sweep_scopes.is_empty() {
            return self.sweep_scopes.clone();
        }
        self.source_subscriptions
            .ids()
            .iter()
            .filter_map(|s| ListScope::parse(&format!("/subscriptions/{s}")).ok())
            .collect()
    }

    /// Subscriptions the configuration names as customers' (watched, target, policy rules): a private
    /// endpoint in one of them is never a managed private endpoint.
    pub fn customer_subscriptions(&self) -> Vec<String> {
        let mut v: Vec<String> = self.source_subscriptions.ids().to_vec();
        v.extend(self.target_subscriptions.ids().iter().cloned());
        v.extend(self.policy.subscriptions());
        // A Private Link Service's consumers and providers are customers too.
        v.extend(self.pls.allow.subscriptions());
        v.extend(self.pls.watch.iter().map(|w| match w {
            Watched::Pls(id) => id.subscription().to_ascii_lowercase(),
            Watched::Scope(s) => s.subscription().to_ascii_lowercase(),
        }));
        v.sort();
        v.dedup();
        v
    }

    /// The opt-in settings ([`crate::providers::Provider::opt_in`]) this configuration turns on.
    pub fn opted_in(&self) -> Vec<&'static str> {
        let mut on = Vec::new();
        if self.customer_endpoints {
            on.push("MPE_CUSTOMER_ENDPOINTS");
        }
        on.extend(self.sources_on.iter().copied());
        on
    }

    /// The data plane of the MPE type `resource_type`, if it is kept outside ARM.
    pub fn data_plane(&self, resource_type: &str) -> Option<&DataPlaneEndpoint> {
        self.data_planes.iter().find(|d| d.resource_type.eq_ignore_ascii_case(resource_type))
    }

    /// Why the approver does not act on the MPE `id` at all, if so: its subscription is outside
    /// `MPE_SOURCE_SUBSCRIPTIONS` (its management groups as resolved in `groups`), or its type is opt-in
    /// and not turned on.
    pub fn refusal_in(&self, id: &ResourceId, groups: &crate::policy::Groups) -> Option<String> {
        if let Some(setting) = crate::providers::for_id(id).and_then(|p| p.opt_in()) {
            if !self.opted_in().contains(&setting) {
                return Some(format!("{} is approved only with {setting}=true", id.resource_type()));
            }
        }
        self.source_subscriptions.refusal_in(id.subscription(), groups)
    }

    /// [`Config::refusal_in`] with no management group resolved (one only a group lists is refused).
    pub fn refusal(&self, id: &ResourceId) -> Option<String> {
        self.refusal_in(id, &Default::default())
    }

    /// The management groups `MPE_SOURCE_SUBSCRIPTIONS` and `MPE_TARGET_SUBSCRIPTIONS` name.
    pub fn filter_groups(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.source_subscriptions.groups().iter().chain(self.target_subscriptions.groups()).cloned().collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opt_in_source_is_refused_until_turned_on() {
        let pe = ResourceId::parse(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
        )
        .unwrap();
        let with = |v: Option<&str>| {
            Config::from_lookup(|k| match k {
                "ServiceBusConnection__fullyQualifiedNamespace" => Some("ns.servicebus.windows.net".to_string()),
                "MPE_CUSTOMER_ENDPOINTS" => v.map(str::to_string),
                _ => None,
            })
        };
        let off = with(None).unwrap();
        assert!(off.refusal(&pe).is_some_and(|why| why.contains("MPE_CUSTOMER_ENDPOINTS=true")));
        assert_eq!(with(Some("true")).unwrap().refusal(&pe), None);
        assert!(with(Some("maybe")).is_err());
        let adf = ResourceId::parse("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/m").unwrap();
        assert_eq!(off.refusal(&adf), None, "the managed sources need no opt-in");
    }
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn the_process_environment_is_read_here() {
        let env = |pairs: &'static [(&str, &str)]| {
            ProcessEnv::from_lookup(move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        };
        assert_eq!(env(&[]), ProcessEnv::default());
        assert!(env(&[("MPE_LOG_FORMAT", "JSON")]).json_logs);
        assert!(!env(&[("MPE_LOG_FORMAT", "text")]).json_logs);
        assert!(env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")]).managed_identity);
        assert!(env(&[("MPE_USE_IMDS", "1")]).managed_identity);
        assert_eq!(env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", " 7071 ")]).port().ok(), Some(7071));
        let bad = env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "http")]).port().unwrap_err();
        assert_eq!(bad.setting, "FUNCTIONS_CUSTOMHANDLER_PORT");
        assert!(env(&[]).port().unwrap_err().reason.contains("not set"));
    }

    #[test]
    fn settings_list_is_what_from_lookup_reads() {
        let asked = std::sync::Mutex::new(std::collections::BTreeSet::new());
        Config::from_lookup(|k| {
            asked.lock().unwrap().insert(k.to_string());
            (k == "ServiceBusConnection__fullyQualifiedNamespace").then(|| "ns.servicebus.windows.net".to_string())
        })
        .unwrap();
        let listed: std::collections::BTreeSet<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
        assert_eq!(asked.into_inner().unwrap(), listed);
    }

    #[test]
    fn the_tables_defaults_are_the_codes() {
        let c = cfg(&[("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")]).unwrap();
        assert_eq!(c.schedule, Schedule::default(), "MPE_CHECK_SCHEDULE, _GIVE_UP_AFTER, _JITTER defaults");
        assert_eq!(c.first_check_delay, Duration::from_secs(2));
        assert_eq!(c.message_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(c.policy, Policy::default());
        assert!(!c.policy.configured, "the default rule is not a configured MPE_ALLOW");
        let mut names: Vec<&str> = SETTINGS.iter().chain(ENVIRONMENT).map(|s| s.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a setting is listed once");
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")]).unwrap();
        assert_eq!(c.queue, "mpe-approvals");
        assert_eq!(c.parking_queue, "mpe-approvals-parked");
        assert_eq!(c.arm_endpoint.as_str(), "https://management.azure.com/");
        assert_eq!(c.servicebus_endpoint.as_str(), "https://ns.servicebus.windows.net/");
        assert_eq!(c.arm_audience, "https://management.azure.com");
        assert_eq!(c.servicebus_audience, "https://servicebus.azure.net");
        assert!(!c.dry_run);
        assert_eq!(c.schedule, Schedule::default());
    }

    /// `MPE_ALLOW` may name a management group; `MPE_PLS_ALLOW`, whose scan resolves none, may not.
    #[test]
    fn a_management_group_is_read_in_mpe_allow_only() {
        let ns = ("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net");
        let group = "/providers/Microsoft.Management/managementGroups/Platform->*";
        let c = cfg(&[ns, ("MPE_ALLOW", group)]).unwrap();
        assert_eq!(c.policy.groups(), ["platform"]);
        let e = cfg(&[ns, ("MPE_PLS_ALLOW", group)]).unwrap_err();
        assert_eq!(e.setting, "MPE_PLS_ALLOW");
        assert!(e.reason.contains("MPE_ALLOW only"), "{e}");
        assert_eq!(cfg(&[ns]).unwrap().policy.groups(), Vec::<String>::new());
    }

    #[test]
    fn overrides_and_errors() {
        let c = cfg(&[
            ("MPE_SERVICEBUS_ENDPOINT", "http://127.0.0.1:9999/sb"),
            ("MPE_ARM_ENDPOINT", "http://127.0.0.1:9999/arm"),
            ("MPE_CHECK_SCHEDULE", "1s*3,5s"),
            ("MPE_DRY_RUN", "true"),
            ("MPE_SOURCE_SUBSCRIPTIONS", "00000000-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000002"),
        ])
        .unwrap();
        assert!(c.dry_run);
        assert_eq!(c.schedule.interval(3), Duration::from_secs(5));
        assert!(c.source_subscriptions.permits("00000000-0000-0000-0000-000000000002"));
        assert!(!c.source_subscriptions.permits("00000000-0000-0000-0000-000000000003"));
        assert_eq!(
            c.source_subscriptions.refusal("00000000-0000-0000-0000-000000000003").as_deref(),
            Some("subscription 00000000-0000-0000-0000-000000000003 is not in MPE_SOURCE_SUBSCRIPTIONS")
        );
        assert_eq!(c.target_subscriptions.refusal("anything"), None, "empty allows all");
        for (k, v) in [
            ("MPE_ARM_ENDPOINT", "http://evil.example.com"),
            ("MPE_CHECK_SCHEDULE", "abc"),
            ("MPE_DRY_RUN", "maybe"),
            ("MPE_SOURCE_SUBSCRIPTIONS", "not-a-guid"),
            ("MPE_QUEUE_NAME", "a b"),
            ("MPE_GIVE_UP_AFTER", "forever"),
            ("AZURE_CLIENT_ID", "x"),
        ] {
            let e = cfg(&[("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net"), (k, v)])
                .unwrap_err();
            assert_eq!(e.setting, k);
        }
        assert_eq!(cfg(&[]).unwrap_err().setting, "ServiceBusConnection__fullyQualifiedNamespace");
    }
}
