//! The runbook (docs/operations.md, "Runbook"), run: every command line of its `sh` blocks, placeholders
//! filled in, runs with the real binary against the simulator, in the order the runbook gives them, with
//! only the app's settings and the managed identity in the environment (as an operator runs it from the
//! app's console). The simulator holds what the alerts are about: a parked item (`policy-refused`), a
//! work message and a parked item dead-lettered, and an MPE waiting for approval.
//!
//! Each command must succeed (exit status 0) and print its result on stdout; a `--dry-run` moves nothing;
//! at the end every queue the runbook replays from is empty (its commands moved what the alerts are about
//! back to the work queue) and the MPE `check --approve` was run on is approved. A line in a runbook `sh`
//! block that is not an `mpe-approver` command, or a placeholder this test does not know, fails it.

mod common;

use azure_sim::{MpeSpec, OutgoingMessage, SimOptions, Simulator};
use azure_sim::{SharedClock, SystemClock};
use common::in_group;
use mpe_approver::queue_message::props;
use mpe_approver::workitem::{Origin, WorkItem};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const RUNBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000b001";
const OTHER_SUB: &str = "0b5e55ed-0000-4000-8000-00000000b002";
const WORK: &str = "mpe-approvals";
const PARKED: &str = "mpe-approvals-parked";

/// The command lines of the runbook's `sh` blocks, in order (a trailing `# comment` removed).
fn runbook_commands() -> Vec<String> {
    let text = std::fs::read_to_string(RUNBOOK).unwrap();
    let start = text.find("\n## Runbook\n").expect("docs/operations.md has a Runbook section");
    let section = &text[start + 1..];
    let section = section[3..].find("\n## ").map_or(section, |end| &section[..end + 3]);
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in section.lines().map(str::trim) {
        if line.starts_with("```") {
            in_sh = !in_sh && line == "```sh";
            continue;
        }
        let line = line.split(" # ").next().unwrap_or_default().trim();
        if !in_sh || line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(line.starts_with("mpe-approver "), "a runbook line that is not an mpe-approver command: {line:?}");
        out.push(line.to_string());
    }
    out
}

/// The arguments of a runbook line, its placeholders filled in.
fn arguments(line: &str, fill: &[(&str, String)]) -> Vec<String> {
    let mut line = line.to_string();
    for (placeholder, value) in fill {
        line = line.replace(placeholder, value);
    }
    assert!(!line.contains('<'), "a placeholder this test does not fill: {line:?}");
    line.split_whitespace().skip(1).map(str::to_string).collect()
}

/// A work item of `mpe` as the handler queues it.
fn work_item(clock: &SharedClock, mpe: &mpe_approver::resource_id::ResourceId) -> String {
    WorkItem::new(mpe.clone(), clock.now(), "corr-runbook".into(), Origin::EventGrid).to_json()
}

fn message(id: &str, body: String, properties: &[(&str, &str)]) -> OutgoingMessage {
    OutgoingMessage {
        message_id: Some(id.into()),
        body,
        properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

/// Move the message just sent to `queue` to its dead-letter queue, as Service Bus does after
/// `maxDeliveryCount` deliveries.
fn dead_letter_the_next(sim: &Simulator, queue: &str) {
    let taken = sim.service_bus().take_due(queue);
    assert_eq!(taken.len(), 1, "one message on {queue}");
    for m in taken {
        sim.service_bus().dead_letter(queue, m, "MaxDeliveryCountExceeded", "delivered 10 times");
    }
}

/// Messages on the parking queue, its dead-letter queue and the work queue's dead-letter queue.
fn alerting(sim: &Simulator) -> (usize, usize, usize) {
    let bus = sim.service_bus();
    (bus.peek(PARKED).len(), bus.dead_letters(PARKED).len(), bus.dead_letters(WORK).len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runbook_command_runs_and_does_what_the_runbook_says() {
    let commands = runbook_commands();
    for needed in ["status", "replay --parked --reason", "replay --dead-letter", "replay --parked-dead-letter", "check"]
    {
        assert!(
            commands.iter().any(|c| c.starts_with(&format!("mpe-approver {needed}"))),
            "the runbook has no `mpe-approver {needed}`: {commands:#?}"
        );
    }

    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock.clone(), SimOptions::default()).await.unwrap();
    // An MPE waiting for approval, in the watched subscription.
    let waiting = in_group(SUB, "rg-rb/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-waiting");
    let target = in_group(SUB, "rg-rb/providers/Microsoft.Storage/storageAccounts/strunbook");
    sim.add_mpe(MpeSpec::new(waiting.as_str(), target.as_str()).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    // Parked: a pair no rule allows.
    let refused = in_group(SUB, "rg-rb/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-refused");
    let elsewhere = in_group(OTHER_SUB, "rg-rb/providers/Microsoft.Storage/storageAccounts/stelsewhere");
    sim.add_mpe(MpeSpec::new(refused.as_str(), elsewhere.as_str()).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let bus = sim.service_bus();
    let parked_props = [
        (props::MPE_ID, refused.as_str()),
        (props::PARK_CODE, "policy-refused"),
        ("parkreason", "no MPE_ALLOW rule allows the pair"),
    ];
    // A parked item dead-lettered by scans, and a check the host could not hand over.
    bus.send(PARKED, message("parked-dead", work_item(&clock, &refused), &parked_props)).unwrap();
    dead_letter_the_next(&sim, PARKED);
    bus.send(WORK, message("work-dead", work_item(&clock, &waiting), &[(props::MPE_ID, waiting.as_str())])).unwrap();
    dead_letter_the_next(&sim, WORK);
    bus.send(PARKED, message("parked-policy", work_item(&clock, &refused), &parked_props)).unwrap();
    assert_eq!(alerting(&sim), (1, 1, 1), "what the alerts are about");

    let fill = [
        ("<mpe-id>", waiting.to_string()),
        ("<park code>", "policy-refused".to_string()),
        ("<subscription-id>", SUB.to_string()),
        ("<dead-letter reason>", "MaxDeliveryCountExceeded".to_string()),
    ];
    let env = sim.handler_env();
    for line in &commands {
        let args = arguments(line, &fill);
        let before = alerting(&sim);
        let out = tokio::task::spawn_blocking({
            let (env, args) = (env.clone(), args.clone());
            move || {
                Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .args(&args)
                    .output()
                    .expect("run the CLI")
            }
        })
        .await
        .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{line}: exit {:?}\n{stdout}\n{stderr}", out.status.code());
        assert!(!stdout.trim().is_empty(), "{line}: nothing on stdout\n{stderr}");
        if args.iter().any(|a| a == "--dry-run") {
            // The scan's locks are released at its end: every message it looked at is back.
            assert_eq!(alerting(&sim), before, "{line}: a dry run moved something\n{stdout}");
        }
        if line.starts_with("mpe-approver replay --parked --reason <park code>") && !line.contains("--dry-run") {
            assert_eq!(alerting(&sim).0, 0, "{line}: the parked item is still parked\n{stdout}");
        }
    }
    assert_eq!(alerting(&sim), (0, 0, 0), "the runbook moved everything the alerts were about back into flight");
    let work: Vec<_> = sim.work_messages();
    for (original, mpe) in [("parked-policy", &refused), ("parked-dead", &refused), ("work-dead", &waiting)] {
        let replayed = work.iter().find(|m| m.properties.get("replayof").map(String::as_str) == Some(original));
        let for_mpe = replayed.and_then(|m| m.properties.get(props::MPE_ID)).map(String::as_str);
        assert_eq!(for_mpe, Some(mpe.as_str()), "{original} was replayed as a check of its MPE: {work:#?}");
    }
    let report = sim.report();
    assert!(report.mpe(waiting.as_str()).and_then(|m| m.pec_approved_at).is_some(), "check --approve approved it");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}
