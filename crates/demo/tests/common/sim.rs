//! Helpers for tests on the local simulator (`mpe_demo::Harness`): which queued messages are
//! about an MPE, whether the simulated Azure saw it approved, and polling for a condition.

use azure_sim::SbMessage;
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::props;
use mpe_demo::Harness;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// An application property by name; HTTP carries them as headers, so names compare case-insensitively.
pub fn property<'a>(props: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    props.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Whether a queued message is about the MPE `id`: its `mpeid` property, or an MPE its work item
/// carries together with its siblings.
pub fn is_for(m: &SbMessage, id: &ResourceId) -> bool {
    property(&m.properties, props::MPE_ID).is_some_and(|v| v.eq_ignore_ascii_case(id.as_str()))
        || mpe_approver::workitem::WorkItem::from_json(&m.body)
            .is_ok_and(|w| w.members().iter().any(|i| i.mpe_id.key() == id.key()))
}

/// Whether the simulated Azure saw the MPE's PEC approved.
pub fn approved(h: &Harness, id: &ResourceId) -> bool {
    h.sim.report().mpe(id.as_str()).is_some_and(|m| m.approved_by.is_some())
}

/// The approving PUTs the simulated Azure received for the MPE's PEC.
pub fn puts(h: &Harness, id: &ResourceId) -> u32 {
    h.sim.report().mpe(id.as_str()).map(|m| m.approve_puts).unwrap_or(0)
}

/// The parked message of the MPE: its `parkcode` and `parkreason`.
pub fn parked_code(h: &Harness, id: &ResourceId) -> Option<(String, String)> {
    h.sim.parked().iter().find(|m| is_for(m, id)).map(|m| {
        let get = |n| property(&m.properties, n).unwrap_or_default().to_string();
        (get(props::PARK_CODE), get(props::PARK_REASON))
    })
}

/// Poll `cond` every 10 ms (real time) for at most `within`; on timeout fail with `dump()`.
pub async fn wait_until(what: &str, within: Duration, cond: impl Fn() -> bool, dump: impl Fn() -> String) {
    let until = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < until, "timed out after {within:?} waiting for {what}\n{}", dump());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
