//! The functional core: given what we observed of an MPE and its target's PECs, what now?
//!
//! No I/O here. The Service Bus function observes (reads the MPE, then the PECs when asked to), calls
//! [`decide`], and acts on the [`Decision`]. A table-driven test walks every MPE state × PEC state.

use crate::pec::{Pec, PecStatus};
use crate::providers::{MpeStatus, MpeView};
use crate::resource_id::ResourceId;
use std::fmt;
use std::time::Duration;

/// What we saw.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// The MPE is gone (ARM answered 404).
    MpeGone,
    /// The MPE; `pecs` is `None` until the target has been read.
    Mpe { view: &'a MpeView, endpoint_name: &'a str, pecs: Option<&'a [Pec]> },
}

/// Where the work item stands in time.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Checks done before this one (0 for the first).
    pub attempt: u32,
    /// Time since the MPE was first seen.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Read the target's PECs and decide again.
    ReadTarget,
    /// Approve this PEC (index into the observed list).
    Approve {
        pec: usize,
    },
    CheckAgain {
        after: Duration,
        reason: String,
    },
    Done(Outcome),
    /// Cannot or must not proceed automatically: send to the parking queue for a human.
    Park {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// We approved the PEC and the target confirmed it.
    Approved,
    /// The connection was already approved (by us earlier, by a human, or auto-approved).
    AlreadyApproved,
    Deleted,
    Rejected,
    Disconnected,
    Failed(String),
    /// `MPE_DRY_RUN`: we would have approved this PEC.
    DryRun {
        pec_id: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Approved => f.write_str("approved"),
            Outcome::AlreadyApproved => f.write_str("already approved"),
            Outcome::Deleted => f.write_str("MPE deleted"),
            Outcome::Rejected => f.write_str("rejected"),
            Outcome::Disconnected => f.write_str("disconnected"),
            Outcome::Failed(why) => write!(f, "MPE failed ({why})"),
            Outcome::DryRun { pec_id } => write!(f, "dry run: would approve {pec_id}"),
        }
    }
}

/// When to check again: `steps` of (interval, count), then `then` forever, and a give-up time.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub steps: Vec<(Duration, u32)>,
    pub then: Duration,
    pub give_up_after: Duration,
    /// Fraction of each delay added or removed at random-looking but deterministic points (0.0–0.5).
    pub jitter: f64,
}

impl Default for Schedule {
    /// 2 s for the first 30 s, 3 s up to 90 s, 10 s up to 5.5 min, then every 30 s; give up after 2 h.
    /// Stream Analytics to Storage is ready in ~5 s, to IoT Hub in 30–90 s; Data Explorer takes minutes.
    fn default() -> Self {
        Schedule {
            steps: vec![(Duration::from_secs(2), 15), (Duration::from_secs(3), 20), (Duration::from_secs(10), 24)],
            then: Duration::from_secs(30),
            give_up_after: Duration::from_secs(2 * 3600),
            jitter: 0.1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid schedule {input:?}: {reason} (expected e.g. \"2s*15,3s*20,10s*24,30s\")")]
pub struct ScheduleError {
    pub input: String,
    pub reason: String,
}

/// Parse `5s`, `1500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    if secs > 30.0 * 24.0 * 3600.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

impl Schedule {
    /// Parse `"2s*15,3s*20,10s*24,30s"`: each `interval*count`, the last entry without a count repeats.
    pub fn parse_steps(input: &str) -> Result<(Vec<(Duration, u32)>, Duration), ScheduleError> {
        let e = |reason: &str| ScheduleError { input: input.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = input.split(',').map(str::trim).collect();
        let (last, rest) = parts.split_last().ok_or_else(|| e("empty"))?;
        let mut steps = Vec::new();
        for p in rest {
            let (d, n) = p.split_once('*').ok_or_else(|| e("every entry but the last needs *count"))?;
            let d = parse_duration(d).ok_or_else(|| e("bad interval"))?;
            let n: u32 = n.trim().parse().map_err(|_| e("bad count"))?;
            if d.is_zero() || n == 0 {
                return Err(e("intervals and counts must be positive"));
            }
            steps.push((d, n));
        }
        if last.contains('*') {
            return Err(e("the last entry repeats forever and takes no count"));
        }
        let then = parse_duration(last).ok_or_else(|| e("bad final interval"))?;
        if then.is_zero() {
            return Err(e("intervals must be positive"));
        }
        Ok((steps, then))
    }

    /// The nominal delay before check number `attempt + 1`.
    pub fn interval(&self, attempt: u32) -> Duration {
        let mut left = attempt;
        for (d, n) in &self.steps {
            if left < *n {
                return *d;
            }
            left -= n;
        }
        self.then
    }

    /// The delay with jitter; `seed` makes it deterministic per work item and attempt.
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let base = self.interval(attempt);
        let j = self.jitter.clamp(0.0, 0.5);
        // splitmix64 of the seed → a fraction in [-1, 1)
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(attempt as u64);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let frac = (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        base.mul_f64(1.0 + j * frac)
    }
}

/// Decide the next step. Pure: the same observation always gives the same answer.
pub fn decide(obs: Observation<'_>, progress: Progress, schedule: &Schedule, seed: u64) -> Decision {
    let (view, endpoint_name, pecs) = match obs {
        Observation::MpeGone => return Decision::Done(Outcome::Deleted),
        Observation::Mpe { view, endpoint_name, pecs } => (view, endpoint_name, pecs),
    };
    let again = |reason: String| check_again(reason, progress, schedule, seed, view);
    match &view.status {
        MpeStatus::Approved => Decision::Done(Outcome::AlreadyApproved),
        MpeStatus::Rejected => Decision::Done(Outcome::Rejected),
        MpeStatus::Disconnected => Decision::Done(Outcome::Disconnected),
        MpeStatus::Failed(why) => Decision::Done(Outcome::Failed(why.clone())),
        MpeStatus::Deleting => Decision::Done(Outcome::Deleted),
        MpeStatus::Provisioning(s) => again(format!("service still provisioning ({s})")),
        MpeStatus::Unknown(s) => again(format!("unknown MPE state ({s}); not treated as pending")),
        MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget => match pecs {
            None => Decision::ReadTarget,
            Some(pecs) => decide_on_pecs(view, endpoint_name, pecs, again),
        },
    }
}

fn check_again(reason: String, progress: Progress, schedule: &Schedule, seed: u64, view: &MpeView) -> Decision {
    retry_later(reason, &view.raw_status, Duration::ZERO, progress, schedule, seed)
}

/// After repeated transient failures (ARM, tokens, sends): check again no sooner than `min_delay`, or park
/// once the give-up time would pass, by the same rule as any other "check again".
pub fn after_transient_failure(
    why: &str,
    min_delay: Duration,
    progress: Progress,
    schedule: &Schedule,
    seed: u64,
) -> Decision {
    retry_later(format!("transient failure: {why}"), "unknown", min_delay, progress, schedule, seed)
}

/// The schedule's next interval (at least `min_delay`), or `Park` once that would pass the give-up time.
fn retry_later(
    reason: String,
    last_state: &str,
    min_delay: Duration,
    progress: Progress,
    schedule: &Schedule,
    seed: u64,
) -> Decision {
    let after = schedule.delay(progress.attempt, seed).max(min_delay);
    if progress.elapsed + after > schedule.give_up_after {
        return Decision::Park {
            reason: format!(
                "gave up after {}s and {} checks; last state: {reason} ({last_state})",
                progress.elapsed.as_secs(),
                progress.attempt + 1
            ),
        };
    }
    Decision::CheckAgain { after, reason }
}

/// PECs that could belong to this MPE: under the MPE's target, private endpoint named as the service
/// names it (whole last segment, case-insensitive), and of the same group id where the PEC says one.
pub fn candidates(view: &MpeView, endpoint_name: &str, pecs: &[Pec]) -> Vec<usize> {
    pecs.iter()
        .enumerate()
        .filter(|(_, p)| {
            // Cheap tests first; the id parse (the proof the PEC lies under our target) only for name matches.
            let named = p.endpoint_name().is_some_and(|n| n.eq_ignore_ascii_case(endpoint_name));
            let group_ok = match (&view.group_id, p.group_ids.is_empty()) {
                (Some(g), false) => p.group_ids.iter().any(|pg| pg.eq_ignore_ascii_case(g)),
                _ => true,
            };
            named && group_ok && ResourceId::parse(&p.id).map(|id| view.target.contains(&id)).unwrap_or(false)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Among several candidates, those whose description is the MPE's request message (shown while Pending).
fn by_request_message(view: &MpeView, pecs: &[Pec], idx: &[usize]) -> Vec<usize> {
    match view.request_message.as_deref() {
        Some(msg) => {
            idx.iter().copied().filter(|&i| pecs[i].description.as_deref().map(str::trim) == Some(msg.trim())).collect()
        }
        None => Vec::new(),
    }
}

fn ambiguous(pecs: &[Pec], idx: &[usize], why: &str) -> Decision {
    let ids: Vec<&str> = idx.iter().map(|&i| pecs[i].id.as_str()).collect();
    Decision::Park {
        reason: format!("ambiguous: {} PECs could belong to this MPE ({why}): {}", ids.len(), ids.join(", ")),
    }
}

fn decide_on_pecs(view: &MpeView, endpoint_name: &str, pecs: &[Pec], again: impl Fn(String) -> Decision) -> Decision {
    let cands = candidates(view, endpoint_name, pecs);
    if cands.is_empty() {
        return again(format!("no PEC from private endpoint {endpoint_name:?} at the target yet"));
    }
    let pending: Vec<usize> = cands.iter().copied().filter(|&i| pecs[i].status == PecStatus::Pending).collect();
    if view.status == MpeStatus::AwaitingApproval {
        // The service says our connection is not approved yet, so an approved or rejected candidate is
        // not ours (or the service will catch up): only pending candidates count.
        return match pending.len() {
            0 => again("matching PEC not pending at the target yet".into()),
            1 => Decision::Approve { pec: pending[0] },
            _ => match by_request_message(view, pecs, &pending).as_slice() {
                [one] => Decision::Approve { pec: *one },
                _ => ambiguous(pecs, &pending, "same private endpoint name, request message does not single one out"),
            },
        };
    }
    // ProvisionedCheckTarget: the MPE does not tell, the target decides; the candidate must be unique.
    let chosen = match cands.as_slice() {
        [one] => *one,
        _ => match by_request_message(view, pecs, &cands).as_slice() {
            [one] => *one,
            _ => return ambiguous(pecs, &cands, "same private endpoint name, MPE state does not tell them apart"),
        },
    };
    match &pecs[chosen].status {
        PecStatus::Pending => Decision::Approve { pec: chosen },
        PecStatus::Approved => Decision::Done(Outcome::AlreadyApproved),
        PecStatus::Rejected => Decision::Done(Outcome::Rejected),
        PecStatus::Disconnected => Decision::Done(Outcome::Disconnected),
        PecStatus::Other(s) => again(format!("PEC in unknown state {s:?}")),
    }
}
