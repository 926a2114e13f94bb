//! One pass of a check: ask the decision, do what it says (read, or approve), record what came back,
//! ask again, until the decision finishes. Within a time limit. While ARM reports the MPE's subscription
//! nearly out of requests its calls go one at a time ([`crate::throttle`]), each call on its own: a
//! check never holds the subscription while it waits (a confirmation's pause), so the checks of one
//! busy subscription do not keep each other, or the host's slots, waiting.

use super::{approving, observe, App, Reply};
use crate::config::Config;
use crate::decision::{
    decide, readiness_seen, readiness_waiting, Action, Ending, Failure, Observed, ParkCode, Rules, Seen, Verdict,
};
use crate::throttle::FIRST_LANE;
use crate::workitem::WorkItem;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// Reads and approvals of one check at most: each answer of the decision fills in what it asked for,
/// so a check takes a handful; more would be a decision that never finishes.
const MAX_STEPS: usize = 12;

/// Check `item` (on `delivery` of its message, which checks `members` MPEs: it and its siblings) within
/// `limit` (real time).
pub(crate) async fn check(
    app: &App,
    item: &WorkItem,
    delivery: u64,
    members: usize,
    limit: Duration,
    reply: &mut Reply,
) -> Ending {
    let deadline = Instant::now() + limit;
    let mut rules = rules(&app.config);
    // The management groups MPE_ALLOW and the source and target filters name, resolved (cached); a read
    // cut short by the budget leaves them unresolved: they allow nothing in this check.
    let mut names = app.config.policy.groups();
    names.extend(app.config.filter_groups());
    names.sort();
    names.dedup();
    if !names.is_empty() {
        rules.groups =
            timeout_at(deadline, app.groups.resolve(&app.arm, app.clock.now(), &names)).await.unwrap_or_default();
    }
    let learned = app.readiness.snapshot();
    rules.readiness = learned.as_deref();
    let mut seen = Seen::new(item, app.clock.now(), delivery);
    seen.members = members;
    let out_of_time = format!("the check ran past its budget ({}s)", limit.as_secs_f64());
    let lists = observe::Lists::for_item(item);
    let mut listed = observe::Listed::default();
    for _ in 0..MAX_STEPS {
        let step = match decide(&seen, &rules) {
            Action::Finish(ending) => {
                if app.readiness.on() {
                    match (&ending.verdict, readiness_waiting(&seen)) {
                        (Verdict::CheckAgain { .. }, Some((key, age))) => {
                            app.readiness.waiting(&item.mpe_id, &key, age, app.clock.now())
                        }
                        (Verdict::Done(_) | Verdict::Park { .. }, _) => app.readiness.ended(&item.mpe_id),
                        _ => {}
                    }
                }
                return ending;
            }
            // A failure ends the check: the decision finishes at once, reading nothing more.
            _ if seen.failure.is_some() => break,
            // Once the MPE awaits approval, the check's calls go first in its subscriptions' lines.
            Action::Read(need) => {
                let read = observe::read(app, &item.mpe_id, &need, lists, &mut listed, reply);
                timeout_at(deadline, FIRST_LANE.scope(seen.awaits_approval(), read)).await
            }
            Action::Approve(a) => {
                if let Some((key, age)) = app.readiness.on().then(|| readiness_seen(&seen)).flatten() {
                    app.readiness.ready(&item.mpe_id, &key, age);
                }
                timeout_at(deadline, FIRST_LANE.scope(true, approving::approve(app, &a, listed.get(&a.pec_id), reply)))
                    .await
            }
        };
        seen.record(
            step.unwrap_or_else(|_| {
                Observed::Failed(Failure::Transient { why: out_of_time.clone(), retry_after: None })
            }),
        );
    }
    Ending::parked(ParkCode::InvalidInput, format!("internal: the check did not finish within {MAX_STEPS} steps"))
}

/// The configuration's part of every decision.
fn rules(config: &Config) -> Rules<'_> {
    Rules {
        schedule: &config.schedule,
        policy: &config.policy,
        sources: &config.source_subscriptions,
        targets: &config.target_subscriptions,
        customer_subscriptions: config.customer_subscriptions(),
        dry_run: config.dry_run,
        endpoint_names: &config.endpoint_names,
        opted_in: config.opted_in(),
        groups: Default::default(),
        readiness: None,
    }
}
