//! The state every route of the simulator shares ([`AppState`]): its clock, the identity secret and
//! the token book, the world, the ARM fault plan and throttling, the latencies, the Service Bus, the
//! invocation log and the options it was started with ([`SimOptions`]).
//!
//! Built from the lower modules only; the routes read it, it knows none of them.

use crate::clock::SharedClock;
use crate::faults::FaultPlan;
use crate::invocations::InvocationLog;
use crate::latency::Latencies;
use crate::servicebus::ServiceBus;
use crate::state::World;
use crate::throttle::{RpThrottle, Throttle, ThrottleBook};
use crate::tokens::TokenBook;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The `X-IDENTITY-HEADER` secret; random when `None`.
    pub identity_secret: Option<String>,
    pub work_queue: String,
    pub parking_queue: String,
    /// How long a target's asynchronous approval (Web, IoT Hub, SQL) runs, in simulated time.
    pub approval_lro: Duration,
    /// Page the `privateEndpointConnections` lists (not IoT Hub's bare array) into pages of this many
    /// items linked by `nextLink`; `None`: one page.
    pub pec_page_size: Option<usize>,
    /// Page the ARM lists of MPE parents and children ([`crate::arm_lists`]) into pages of this many
    /// items linked by `nextLink` (`$skiptoken`); `None`: one page.
    pub list_page_size: Option<usize>,
    /// The ARM id of the simulated Service Bus namespace (its queues answer
    /// `GET {arm}{id}/queues/{queue}`); handed out as `MPE_SERVICEBUS_RESOURCE_ID`.
    pub servicebus_namespace_id: String,
    /// Per-subscription ARM throttling ([`crate::throttle`]): every `every`-th call of a subscription is
    /// answered 429 and the subscription then answers 429 until `wait` has passed; `None`: off.
    pub throttle: Option<Throttle>,
    /// A resource provider's own throttling behind ARM ([`crate::throttle::RpThrottle`]): 429s that come
    /// with no low remaining count first; `None`: off.
    pub rp_throttle: Option<RpThrottle>,
}

/// [`SimOptions::servicebus_namespace_id`]'s default.
pub const DEFAULT_SERVICEBUS_NAMESPACE_ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000a5b1/resourceGroups/mpe-approver/providers/Microsoft.ServiceBus/namespaces/mpe-approver-sim";

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            identity_secret: None,
            work_queue: "mpe-approvals".into(),
            parking_queue: "mpe-approvals-parked".into(),
            approval_lro: Duration::from_secs(3),
            pec_page_size: None,
            list_page_size: None,
            servicebus_namespace_id: DEFAULT_SERVICEBUS_NAMESPACE_ID.into(),
            throttle: None,
            rp_throttle: None,
        }
    }
}

/// Shared by all the simulator's HTTP handlers.
pub struct AppState {
    pub(crate) clock: SharedClock,
    pub(crate) identity_secret: String,
    pub(crate) base_url: String,
    pub(crate) tokens: Mutex<TokenBook>,
    pub(crate) world: Mutex<World>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) throttle: Mutex<ThrottleBook>,
    pub(crate) latency: Mutex<Latencies>,
    pub(crate) bus: ServiceBus,
    pub(crate) invocations: InvocationLog,
    pub(crate) options: SimOptions,
    /// The MPEs created through ARM (a PUT), in order, until taken ([`crate::Simulator::take_created`]):
    /// each one's `ResourceWriteSuccess` event is the taker's to deliver.
    pub(crate) created: Mutex<Vec<String>>,
}

impl AppState {
    /// A fresh simulated Azure served at `base_url`: no targets or MPEs, no tokens, the work and parking
    /// queues empty.
    pub(crate) fn new(clock: SharedClock, options: SimOptions, base_url: String) -> Self {
        AppState {
            identity_secret: options
                .identity_secret
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            base_url,
            tokens: Mutex::new(TokenBook::default()),
            world: Mutex::new(World::new(options.approval_lro)),
            faults: Mutex::new(FaultPlan::default()),
            throttle: Mutex::new(ThrottleBook::with_providers(options.throttle, options.rp_throttle.clone())),
            latency: Mutex::new(Latencies::default()),
            bus: ServiceBus::new(clock.clone(), &[&options.work_queue, &options.parking_queue]),
            invocations: Arc::new(Mutex::new(Vec::new())),
            created: Mutex::new(Vec::new()),
            options,
            clock,
        }
    }

    /// The ARM base URL: resource ids are appended.
    pub(crate) fn arm_base(&self) -> String {
        format!("{}/arm", self.base_url)
    }

    /// The URL of `path` on this ARM host with its `api-version`.
    pub(crate) fn arm_url(&self, path: &str, api_version: &str) -> String {
        format!("{}{path}?api-version={api_version}", self.arm_base())
    }
}
