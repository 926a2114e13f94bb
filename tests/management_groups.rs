//! A management group named by `MPE_ALLOW`, resolved: the official example of the descendants list
//! (`Microsoft.Management/2023-04-01/GetDescendants.json`) read by the approver, the simulator's answer
//! held to its shape, and the cache (`handler::GroupCache`) over the simulator on an injected clock: every
//! page read, fresh for `REFRESH`, a failure kept for `RETRY_FAILED` and never hiding behind an older
//! resolution, at most `MAX_PAGES` calls per refresh.

mod common;

use azure_sim::{SimOptions, Simulator, SystemClock};
use chrono::{DateTime, Utc};
use common::example;
use mpe_approver::arm::ArmClient;
use mpe_approver::clock::Clock;
use mpe_approver::handler::{GroupCache, MAX_PAGES, REFRESH, RETRY_FAILED};
use mpe_approver::hierarchy::{self, read_page};
use mpe_approver::http::{AuthError, TokenSource};
use mpe_approver::policy::{GroupFailureKind, Groups, Resolution};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EXAMPLE: &str = "Microsoft.Management/2023-04-01/GetDescendants.json";
const A: &str = "0b5e55ed-0000-4000-8000-00000000b001";
const B: &str = "0b5e55ed-0000-4000-8000-00000000b002";

struct SimTokens(Arc<Simulator>);

#[async_trait::async_trait]
impl TokenSource for SimTokens {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        Ok(self.0.issue_token(audience))
    }
}

/// A clock the test moves by hand.
struct Hand(Mutex<DateTime<Utc>>);

impl Hand {
    fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(d).unwrap();
    }
}

impl Clock for Hand {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    fn real(&self, _: Duration) -> Duration {
        Duration::ZERO
    }
}

async fn simulator(options: SimOptions) -> (Arc<Simulator>, ArmClient) {
    let sim = Arc::new(Simulator::start(Arc::new(SystemClock), options).await.unwrap());
    let arm = ArmClient::new(
        &url::Url::parse(&sim.arm_endpoint()).unwrap(),
        "https://management.azure.com".into(),
        Arc::new(SimTokens(sim.clone())),
        Arc::new(mpe_approver::clock::SystemClock),
    )
    .unwrap();
    (sim, arm)
}

fn subscriptions(groups: &Groups, group: &str) -> Option<BTreeSet<String>> {
    match groups.get(group)? {
        Resolution::Subscriptions(s) => Some(s.clone()),
        Resolution::Failed { .. } => None,
    }
}

/// The approver reads the example's page: its subscription by id (whatever the type says), its group
/// skipped, no next page.
#[test]
fn the_example_reads_as_one_subscription_and_no_next_page() {
    let body = &example(EXAMPLE)["responses"]["200"]["body"];
    let page = read_page(body).unwrap();
    assert_eq!(page.subscriptions, ["20000000-0004-0000-0000-000000000000"]);
    assert_eq!(page.groups, ["20000000-0001-0000-0000-000000000000"]);
    assert_eq!(page.next_link, None);
    assert_eq!(example(EXAMPLE)["parameters"]["api-version"], hierarchy::API_VERSION);
}

/// Every key of `v`, as `/`-joined paths (arrays' items merged).
fn shape(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{k}");
                out.insert(p.clone());
                shape(x, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| shape(x, &format!("{at}[]"), out)),
        _ => {}
    }
}

/// The simulator answers the descendants in the example's shape: the same keys, the same types, a
/// subscription's and a group's id as the example writes them, `nextLink` null on the last page.
#[tokio::test]
async fn the_simulator_answers_as_the_example_does() {
    let (sim, arm) = simulator(SimOptions::default()).await;
    sim.add_management_group("20000000-0000-0000-0000-000000000000", None).unwrap();
    sim.add_management_group("20000000-0001-0000-0000-000000000000", Some("20000000-0000-0000-0000-000000000000"))
        .unwrap();
    sim.place_subscription("20000000-0004-0000-0000-000000000000", "20000000-0000-0000-0000-000000000000").unwrap();
    let path = hierarchy::descendants_path("20000000-0000-0000-0000-000000000000");
    let ours = arm.get_path(&path, hierarchy::API_VERSION).await.unwrap().unwrap();
    let theirs = &example(EXAMPLE)["responses"]["200"]["body"];
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    shape(&ours, "", &mut a);
    shape(theirs, "", &mut b);
    assert_eq!(a, b);
    let ids = |v: &Value| -> Vec<(String, String)> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["id"].as_str().unwrap().to_string(), e["type"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(ids(&ours), ids(theirs));
    assert_eq!(ours["nextLink"], Value::Null);
    assert_eq!(read_page(&ours).unwrap(), read_page(theirs).unwrap());
}

/// The cache: read once, fresh for `REFRESH` (a subscription moved out stays until then, and is gone
/// after), a 403 replaces the resolution at once and is read again only after `RETRY_FAILED`, and the
/// group allows again once the read succeeds.
#[tokio::test]
async fn resolutions_are_cached_for_the_refresh_interval_and_failures_drop_them() {
    let (sim, arm) = simulator(SimOptions { list_page_size: Some(1), ..SimOptions::default() }).await;
    sim.add_management_group("root", None).unwrap();
    sim.add_management_group("platform", Some("root")).unwrap();
    sim.add_management_group("landing", Some("platform")).unwrap();
    sim.place_subscription(A, "landing").unwrap();
    sim.place_subscription(B, "platform").unwrap();
    let clock = Hand(Mutex::new("2026-12-01T10:00:00Z".parse().unwrap()));
    let cache = GroupCache::default();
    let names = vec!["Platform".to_string()];

    let first = cache.resolve(&arm, clock.now(), &names).await;
    assert_eq!(subscriptions(&first, "platform"), Some(BTreeSet::from([A.to_string(), B.to_string()])));
    assert_eq!(arm.calls(), 3, "three pages of one item: landing, A, B");
    assert!(first.holds("PLATFORM", &A.to_ascii_uppercase()));
    assert_eq!(cache.resolve(&arm, clock.now(), &[]).await, Groups::default(), "no group, no call");

    sim.place_subscription(A, "root").unwrap();
    clock.advance(REFRESH - Duration::from_secs(1));
    assert_eq!(cache.resolve(&arm, clock.now(), &names).await, first, "fresh: from the cache");
    assert_eq!(arm.calls(), 3);
    clock.advance(Duration::from_secs(1));
    let moved = cache.resolve(&arm, clock.now(), &names).await;
    assert_eq!(subscriptions(&moved, "platform"), Some(BTreeSet::from([B.to_string()])), "A moved out");
    assert_eq!(arm.calls(), 5);

    sim.forbid("/providers/Microsoft.Management/managementGroups/platform", true);
    clock.advance(REFRESH);
    let refused = cache.resolve(&arm, clock.now(), &names).await;
    let Some(Resolution::Failed { why, kind }) = refused.get("platform") else { panic!("{refused:?}") };
    assert_eq!(*kind, GroupFailureKind::Forbidden);
    assert!(why.contains("HTTP 403") && why.contains("descendants/read"), "{why}");
    assert!(!refused.holds("platform", B), "a failed read drops what the group held before");
    let calls = arm.calls();
    clock.advance(RETRY_FAILED - Duration::from_secs(1));
    assert_eq!(cache.resolve(&arm, clock.now(), &names).await, refused);
    assert_eq!(arm.calls(), calls, "a failure is kept, not read again per check");
    sim.forbid("/providers/Microsoft.Management/managementGroups/platform", false);
    clock.advance(Duration::from_secs(1));
    assert!(cache.resolve(&arm, clock.now(), &names).await.holds("platform", B));

    // A group that does not exist is refused, not waited for.
    let missing = cache.resolve(&arm, clock.now(), &["nope".to_string()]).await;
    assert!(matches!(missing.get("nope"), Some(Resolution::Failed { kind: GroupFailureKind::Refused, .. })));
}

/// A hierarchy longer than `MAX_PAGES` pages is not resolved (its rule allows nothing), after exactly
/// `MAX_PAGES` calls.
#[tokio::test]
async fn a_refresh_reads_at_most_max_pages() {
    let (sim, arm) = simulator(SimOptions { list_page_size: Some(1), ..SimOptions::default() }).await;
    sim.add_management_group("big", None).unwrap();
    for i in 0..=MAX_PAGES {
        sim.place_subscription(&format!("0b5e55ed-0000-4000-8000-{i:012}"), "big").unwrap();
    }
    let groups = GroupCache::default().resolve(&arm, "2026-12-01T10:00:00Z".parse().unwrap(), &["big".into()]).await;
    let Some(Resolution::Failed { why, kind }) = groups.get("big") else { panic!("{groups:?}") };
    assert_eq!((kind, arm.calls()), (&GroupFailureKind::Refused, MAX_PAGES as u64));
    assert!(why.contains(&format!("past {MAX_PAGES} pages")), "{why}");
    assert!(!groups.holds("big", "0b5e55ed-0000-4000-8000-000000000000"));
}
