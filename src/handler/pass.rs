//! One pass of a check: ask the decision, do what it says (read, or approve), record what came back,
//! ask again, until the decision finishes. Within a time limit, and while ARM reports the MPE's
//! subscription nearly out of requests, as the subscription's only check at a time.

use super::{approving, observe, App, Reply};
use crate::config::Config;
use crate::decision::{decide, Action, Ending, Failure, Observed, ParkCode, Rules, Seen};
use crate::workitem::WorkItem;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// How long a check waits for its subscription's turn while ARM reports the subscription nearly out of
/// requests ([`crate::arm::ArmClient::with_turn`]) before it is scheduled again, [`TURN_BACKOFF`] later
/// at least (acknowledged, not redelivered).
pub const TURN_WAIT: Duration = Duration::from_secs(20);
pub const TURN_BACKOFF: Duration = Duration::from_secs(5);
/// Reads and approvals of one check at most: each answer of the decision fills in what it asked for,
/// so a check takes a handful; more would be a decision that never finishes.
const MAX_STEPS: usize = 12;

/// Check `item` (on `delivery` of its message) within `limit` (real time).
pub(crate) async fn check(app: &App, item: &WorkItem, delivery: u64, limit: Duration, reply: &mut Reply) -> Ending {
    let deadline = Instant::now() + limit;
    let rules = rules(&app.config);
    let mut seen = Seen::new(item, app.clock.now(), delivery);
    let subscription = item.mpe_id.subscription();
    let out_of_time = format!("the check ran past its budget ({}s)", limit.as_secs_f64());
    app.arm
        .with_turn(subscription, TURN_WAIT, |turn| async move {
            if !turn {
                seen.record(Observed::Failed(Failure::Transient {
                    why: format!("the subscription's other checks kept it busy for {}s", TURN_WAIT.as_secs()),
                    retry_after: Some(TURN_BACKOFF),
                }));
            }
            for _ in 0..MAX_STEPS {
                let step = match decide(&seen, &rules) {
                    Action::Finish(ending) => return ending,
                    // A failure ends the check: the decision finishes at once, reading nothing more.
                    _ if seen.failure.is_some() => break,
                    Action::Read(need) => timeout_at(deadline, observe::read(app, &item.mpe_id, &need, reply)).await,
                    Action::Approve(a) => timeout_at(deadline, approving::approve(app, &a, reply)).await,
                };
                seen.record(step.unwrap_or_else(|_| {
                    Observed::Failed(Failure::Transient { why: out_of_time.clone(), retry_after: None })
                }));
            }
            Ending::parked(
                ParkCode::InvalidInput,
                format!("internal: the check did not finish within {MAX_STEPS} steps"),
            )
        })
        .await
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
    }
}
