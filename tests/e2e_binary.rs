//! The real binary, started the way the Functions host starts it: an empty environment except the
//! app settings, `FUNCTIONS_CUSTOMHANDLER_PORT`, and App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`;
//! a working directory that holds nothing of ours. Azure is the simulator, in real time (no compression),
//! so the figures are the ones a deployment would see: approval within a couple of seconds of the MPE
//! reporting pending, tokens fetched by azure_identity from the identity endpoint, nothing else approved.

mod common;

use azure_sim::{write_success_event, MpeSpec, SimOptions, Simulator};
use azure_sim::{SharedClock, SystemClock};
use common::in_group;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Handler {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Handler {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(env: &[(String, String)], port: u16) -> Handler {
    let dir = std::env::temp_dir().join(format!("mpe-approver-e2e-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("handler.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_WORKER_RUNTIME", "custom")
        .current_dir(&dir)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start the binary");
    Handler { child, log }
}

const SUB: &str = "2f4a9838-26b7-47ee-be60-ccc1fdec5953";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_with_only_its_environment_approves_what_it_should_and_nothing_else() {
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(
        clock.clone(),
        SimOptions {
            work_queue: "mpe-approvals".into(),
            parking_queue: "mpe-approvals-parked".into(),
            approval_lro: Duration::from_millis(800),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let storage = in_group(SUB, "rg/providers/Microsoft.Storage/storageAccounts/stdata");
    let vault = in_group(SUB, "rg/providers/Microsoft.KeyVault/vaults/kvdata");
    sim.add_target(&storage).unwrap();
    sim.add_target(&vault).unwrap();
    let asa = in_group(SUB, "rg/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-st");
    let adf = in_group(
        SUB,
        "rg/providers/Microsoft.DataFactory/factories/adf/managedVirtualNetworks/default/managedPrivateEndpoints/kv",
    );
    sim.add_mpe(MpeSpec::new(asa.clone(), storage.clone()).timing(Duration::from_millis(500), Duration::from_secs(2)))
        .unwrap();
    sim.add_mpe(MpeSpec::new(adf.clone(), vault.clone()).timing(Duration::from_secs(1), Duration::from_secs(3)))
        .unwrap();
    sim.add_stranger(&storage, "not-ours").unwrap();

    let port = free_port();
    let handler = spawn(&sim.handler_env(), port);
    let host = sim.host(&format!("http://127.0.0.1:{port}"));
    host.wait_ready(Duration::from_secs(20)).await.unwrap_or_else(|e| panic!("{e}\n{}", handler.log()));
    let pump = host.run_queue_pump("mpe-approvals", Duration::from_millis(20)).unwrap();
    for mpe in [&asa, &adf] {
        let r = host.deliver_event(&write_success_event(mpe, clock.now())).await.unwrap();
        assert!(r.success, "event invocation failed: {r:?}\n{}", handler.log());
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = sim.report();
        let done = [&asa, &adf].iter().all(|m| report.mpe(m.as_str()).and_then(|m| m.pec_approved_at).is_some());
        if done && sim.work_messages().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not approved in time\n{}\n{}",
            serde_json::to_string_pretty(&report).unwrap(),
            handler.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pump.stop().await;

    let report = sim.report();
    assert!(report.violations.is_empty(), "violations: {:?}", report.violations);
    for m in [&asa, &adf] {
        let r = report.mpe(m.as_str()).unwrap();
        let latency = r.approval_latency_secs.unwrap();
        eprintln!("{}: pending→approved {latency:.2}s", r.service);
        assert!(latency >= 0.0, "approved before the MPE was pending: {r:?}");
        assert!(latency <= 3.0, "approved {latency:.1}s after pending; expected within a couple of seconds: {r:?}");
        assert_eq!(r.approve_puts, 1, "{r:?}");
        assert_eq!(r.approved_by.as_deref(), Some("system-assigned managed identity"), "{r:?}");
    }
    let stranger = sim.pecs(&storage).into_iter().find(|p| p.endpoint_id.ends_with("/not-ours")).unwrap();
    assert_eq!(stranger.status.as_str(), "Pending", "a stranger's PEC was touched");
    assert!(sim.parked().is_empty(), "unexpected parked items: {:?}", sim.parked());
    assert!(report.tokens_issued >= 2, "tokens for ARM and Service Bus come from the identity endpoint");
    let log = handler.log();
    assert!(log.contains("custom handler listening"), "{log}");
    // One mpe.outcome event per finished chain, as one JSON line, and nothing else written twice.
    for m in [&asa, &adf] {
        let events: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == "mpe.outcome" && v["mpeId"] == m.as_str())
            .collect();
        assert_eq!(events.len(), 1, "one mpe.outcome for {m}: {log}");
        let e = &events[0];
        assert_eq!(e["outcome"], "approved", "{e}");
        assert!(e["correlationId"].as_str().is_some_and(|c| !c.is_empty()), "{e}");
        assert!(e["pecId"].as_str().is_some() && e["attempts"].as_u64() >= Some(1), "{e}");
        assert!(e["secondsToApprove"].as_f64().is_some_and(|s| s > 0.0), "{e}");
    }
    assert!(!log.contains("mpe.audit"), "the audit line travels in the reply's Logs only, not also on stdout: {log}");
}

#[test]
fn binary_refuses_bad_configuration_with_the_setting_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string())
        .env("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")
        .env("MPE_CHECK_SCHEDULE", "every now and then")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MPE_CHECK_SCHEDULE"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ServiceBusConnection__fullyQualifiedNamespace"));
}

/// The CLI as an operator runs it: only the app's settings and the managed identity in the environment.
async fn cli(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    let env = env.to_vec();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(&args)
            .output()
            .expect("run the CLI")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_replays_parked_messages_and_refuses_bad_input_before_touching_anything() {
    let clock: SharedClock = Arc::new(SystemClock);
    // The default queues are the handler's defaults.
    let sim = Simulator::start(clock.clone(), SimOptions::default()).await.unwrap();
    let mpe = in_group(SUB, "rg/providers/Microsoft.Kusto/clusters/adx/managedPrivateEndpoints/mpe-cli");
    let item = mpe_approver::workitem::WorkItem::new(
        mpe.clone(),
        clock.now(),
        "corr-cli".into(),
        mpe_approver::workitem::Origin::EventGrid,
    );
    let parked = azure_sim::OutgoingMessage {
        message_id: Some("parked-1".into()),
        body: item.to_json(),
        properties: [
            ("mpeid".to_string(), mpe.to_string()),
            ("parkcode".to_string(), "policy-refused".to_string()),
            ("parkreason".to_string(), "no rule allows it".to_string()),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    sim.service_bus().send("mpe-approvals-parked", parked).unwrap();
    let env = sim.handler_env();

    for bad in [
        vec!["replay", "--scope", "/subscriptions/not-a-guid"],
        vec![
            "replay",
            "--scope",
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Kusto/clusters/adx"),
        ],
        vec!["replay", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"],
        vec!["replay", "--parked", "--max", "0"],
        vec!["replay", "--parked", "--scope", &format!("/subscriptions/{SUB}")],
        vec!["replay", "--reason", "policy-refused"],
        vec!["replay", "--parkd"],
    ] {
        let out = cli(&env, &bad).await;
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(!out.stderr.is_empty(), "{bad:?} says why");
    }
    assert_eq!(sim.parked().len(), 1, "bad input changed nothing");
    assert!(sim.work_messages().is_empty());

    let out = cli(&env, &["replay", "--parked", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["seen"].as_u64(), r["replayed"].as_u64()), (Some(1), Some(0)), "{r}");
    assert_eq!(r["rows"][0]["action"], "would replay");
    assert_eq!(r["rows"][0]["reason"], "policy-refused");
    assert_eq!(r["rows"][0]["mpeId"], mpe.as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would replay"), "progress on stderr");
    assert_eq!(sim.parked().len(), 1);

    let out = cli(&env, &["replay", "--parked", "--reason", "policy-refused"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.contains("1 seen, 1 replayed, 0 failed"), "{table}");
    assert!(sim.parked().is_empty());
    let work = sim.work_messages();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].properties.get("replayof").map(String::as_str), Some("parked-1"));

    let out = cli(&env, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let work_depth = st["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "mpe-approvals").cloned();
    assert_eq!(work_depth.map(|q| q["active"].clone()), Some(serde_json::json!(1)), "{st}");
}

/// `check --approve` approves as the function does and writes the same audit line and outcome event,
/// on stderr (stdout keeps the result); without `--approve` it changes nothing and writes neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_check_approve_writes_the_audit_line_and_the_outcome_event() {
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock.clone(), SimOptions::default()).await.unwrap();
    let mpe = in_group(SUB, "rg/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-cli");
    let target = in_group(SUB, "rg/providers/Microsoft.Storage/storageAccounts/stcli");
    sim.add_mpe(MpeSpec::new(mpe.as_str(), target.as_str()).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let env = sim.handler_env();

    let dry = cli(&env, &["check", mpe.as_str()]).await;
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(!stderr.lines().any(|l| l.starts_with("mpe.audit") || l.contains("\"mpe.outcome\"")), "{stderr}");

    let out = cli(&env, &["check", mpe.as_str(), "--approve"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"), "{}", String::from_utf8_lossy(&out.stdout));
    let audit: Vec<serde_json::Value> =
        stderr.lines().filter_map(|l| l.strip_prefix("mpe.audit ")).map(|j| serde_json::from_str(j).unwrap()).collect();
    assert_eq!(audit.len(), 1, "{stderr}");
    assert_eq!(audit[0]["outcome"], "approved");
    assert!(audit[0]["pecId"].as_str().is_some_and(|p| p.starts_with(target.as_str())), "{}", audit[0]);
    let outcome: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "mpe.outcome")
        .collect();
    assert_eq!(outcome.len(), 1, "{stderr}");
    assert_eq!((outcome[0]["outcome"].as_str(), outcome[0]["origin"].as_str()), (Some("approved"), Some("replay")));
}

/// A parked message whose id and properties carry a line break, a forged audit line, a terminal escape
/// and a zero-width space, read by the real CLI: the text table, the progress lines, `status` and the
/// JSON all keep it on one line, escaped (`--json` still decodes to the original text), and no line of
/// any output starts with anything but our own words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_output_escapes_what_a_parked_message_carries() {
    const HOSTILE: &str = "x\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J\u{200b}";
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock.clone(), SimOptions::default()).await.unwrap();
    let parked = azure_sim::OutgoingMessage {
        message_id: Some(HOSTILE.into()),
        body: "not a work item".into(),
        properties: [
            ("mpeid".to_string(), HOSTILE.to_string()),
            ("parkcode".to_string(), HOSTILE.to_string()),
            ("parkreason".to_string(), HOSTILE.to_string()),
            ("parkedat".to_string(), HOSTILE.to_string()),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    sim.service_bus().send("mpe-approvals-parked", parked).unwrap();
    sim.service_bus().set_lock_duration("mpe-approvals-parked", Duration::from_secs(1)).unwrap();
    let env = sim.handler_env();
    let safe = |what: &str, text: &str| {
        assert!(!text.contains(['\u{1b}', '\r', '\u{200b}']), "{what}: a raw control character: {text:?}");
        assert!(!text.contains(r#"mpe.audit {"outcome""#), "{what}: the forged line, unescaped: {text:?}");
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("mpe.audit"), "{what}: {line:?}");
            assert!(!line.starts_with("x"), "{what}: a line starts with the sender's text: {line:?}");
        }
    };
    let out = cli(&env, &["replay", "--parked", "--dry-run"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    safe("replay table", &stdout);
    safe("replay progress", &stderr);
    assert!(stdout.contains(r#""x\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J\u{200b}""#), "{stdout}");
    assert!(stdout.contains("not replayable"), "{stdout}");
    // The simulator does not find a lock by a message id holding a space (its Location encodes the space
    // as `+`), so the message comes back when its lock expires rather than at the unlock.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let out = cli(&env, &["replay", "--parked", "--dry-run", "--json"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    safe("replay --json", &stdout);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["rows"][0]["messageId"], HOSTILE, "JSON escapes, and decodes to the original: {r}");
    assert_eq!(r["rows"][0]["reason"], HOSTILE);

    for args in [["status"].as_slice(), ["status", "--json"].as_slice()] {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let out = cli(&env, args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        safe("status", &stdout);
        safe("status", &String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(r#"x\nmpe.audit {\"outcome"#), "the park code, escaped: {stdout}");
    }
    assert_eq!(sim.parked().len(), 1, "a dry run moves nothing");
}

/// Outside `MPE_SOURCE_SUBSCRIPTIONS`: the CLI's `replay <id>` and `replay --scope` exit non-zero with
/// the function's words (`MpeReplay` answers 403 to both forms: `crates/demo/tests/operations.rs`),
/// listing and queueing nothing; a watched id is queued by the same command and settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_refuses_replays_outside_the_watched_subscriptions_and_queues_a_watched_id() {
    const OUTSIDE_SUB: &str = "0b5e55ed-0000-4000-8000-00000000ab02";
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock, SimOptions::default()).await.unwrap();
    let mut env = sim.handler_env();
    env.push(("MPE_SOURCE_SUBSCRIPTIONS".into(), SUB.into()));
    let outside =
        in_group(OUTSIDE_SUB, "rg-x/providers/Microsoft.StreamAnalytics/clusters/asa-x/privateEndpoints/pe-x");
    let calls = sim.report().arm_calls_total;

    let scope = format!("/subscriptions/{OUTSIDE_SUB}");
    for args in [vec!["replay", outside.as_str()], vec!["replay", "--scope", &scope]] {
        let out = cli(&env, &args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("subscription {OUTSIDE_SUB} is not in MPE_SOURCE_SUBSCRIPTIONS")), "{stderr}");
    }
    assert_eq!(sim.report().arm_calls_total, calls, "nothing was listed");
    assert!(sim.work_messages().is_empty(), "nothing was queued: {:#?}", sim.work_messages());

    let ours = in_group(SUB, "rg-ops/providers/Microsoft.StreamAnalytics/clusters/asa-ops/privateEndpoints/pe-watched");
    let out = cli(&env, &["replay", ours.as_str()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let queued_for =
        |m: &azure_sim::SbMessage| m.properties.get("mpeid").is_some_and(|v| v.eq_ignore_ascii_case(ours.as_str()));
    assert!(sim.work_messages().iter().any(queued_for), "{:#?}", sim.work_messages());
}

/// `replay --parked-dead-letter` reads the parking queue's own dead-letter queue (the replay itself from
/// there: `crates/demo/tests/operations.rs`
/// `parked_items_dead_lettered_by_scans_are_counted_and_replayed_from_the_parking_dead_letter_queue`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_takes_the_parking_dead_letter_queue_as_a_source() {
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock, SimOptions::default()).await.unwrap();
    let out = cli(&sim.handler_env(), &["replay", "--parked-dead-letter", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!((v["source"].as_str(), v["seen"].as_u64()), (Some("parkedDeadLetter"), Some(0)), "{v}");
    assert_eq!(v["queue"].as_str(), Some("mpe-approvals-parked/$DeadLetterQueue"), "{v}");
}

/// With stderr not a terminal (a pipe, as scripts and CI read it) there is no progress line: no escape
/// code nor carriage return on stderr, and the per-message lines of a queued replay are the same as
/// ever, one per message; `replay --scope` writes nothing of its own there; stdout keeps its table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_draws_no_progress_line_when_stderr_is_not_a_terminal() {
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock.clone(), SimOptions::default()).await.unwrap();
    let mpe = in_group(SUB, "rg-p/providers/Microsoft.StreamAnalytics/clusters/asa/privateEndpoints/pe-progress");
    let target = in_group(SUB, "rg-p/providers/Microsoft.Storage/storageAccounts/stprogress");
    sim.add_mpe(MpeSpec::new(mpe.as_str(), target.as_str()).timing(Duration::ZERO, Duration::ZERO)).unwrap();
    let item = mpe_approver::workitem::WorkItem::new(
        mpe.clone(),
        clock.now(),
        "corr-progress".into(),
        mpe_approver::workitem::Origin::EventGrid,
    );
    for id in ["parked-p1", "parked-p2"] {
        let parked = azure_sim::OutgoingMessage {
            message_id: Some(id.into()),
            body: item.to_json(),
            properties: [
                ("mpeid".to_string(), mpe.to_string()),
                ("parkcode".to_string(), "policy-refused".to_string()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        sim.service_bus().send("mpe-approvals-parked", parked).unwrap();
    }
    let env = sim.handler_env();
    let no_progress = |what: &str, stderr: &str| {
        assert!(!stderr.contains(['\u{1b}', '\r']), "{what}: a progress line on a pipe: {stderr:?}");
    };

    let out = cli(&env, &["replay", "--parked", "--dry-run"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    no_progress("replay --parked", &stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("message ")).collect();
    assert_eq!(
        lines,
        [
            format!("message \"parked-p1\"  mpe \"{mpe}\"  would replay"),
            format!("message \"parked-p2\"  mpe \"{mpe}\"  would replay"),
        ],
        "{stderr}"
    );
    assert!(stdout.starts_with("message "), "the table first: {stdout}");
    assert!(stdout.contains("2 seen, 0 replayed, 0 failed"), "{stdout}");

    // The parked messages' locks were released at the scan's end; the sweep lists the resource group.
    let scope = format!("/subscriptions/{SUB}/resourceGroups/rg-p");
    let out = cli(&env, &["replay", "--scope", &scope, "--dry-run"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    no_progress("replay --scope", &stderr);
    assert!(!stderr.contains("MPEs found"), "{stderr}");
    let row = stdout.lines().find(|l| l.ends_with(mpe.as_str())).unwrap_or_default();
    assert!(row.starts_with("would queue  "), "{stdout}");
    assert!(stdout.contains("1 MPEs under"), "{stdout}");
}

/// `status --watch` runs the report again every `--every` seconds: on a pipe each round follows the last
/// after a `status at <time>` line (no screen clearing), with `--json` one document per line per round.
/// The hidden `--rounds N` stops it after N rounds; without it, it runs until it is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_status_watch_prints_a_report_per_round() {
    use std::io::BufRead;
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock, SimOptions::default()).await.unwrap();
    let env = sim.handler_env();

    let out = cli(&env, &["status", "--watch", "--every", "1", "--rounds", "2"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains('\u{1b}'), "no screen clearing on a pipe: {stdout:?}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("status at ")).count(), 2, "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("queue ")).count(), 2, "{stdout}");
    let once = cli(&env, &["status"]).await;
    let once = String::from_utf8_lossy(&once.stdout);
    assert!(stdout.ends_with(once.as_ref()), "each round is the report `status` prints: {stdout}\n---\n{once}");

    let out = cli(&env, &["status", "--json", "--watch", "--every", "1", "--rounds", "2"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert!(docs.iter().all(|d| d["queues"].as_array().is_some_and(|q| q.len() == 2)), "{docs:?}");

    for bad in [["status", "--every", "1"].as_slice(), ["status", "--rounds", "2"].as_slice()] {
        let out = cli(&env, bad).await;
        assert_eq!(out.status.code(), Some(2), "{bad:?} without --watch is a usage error");
    }

    // Without --rounds: two rounds read, and it is still running until killed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mpe-approver"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["status", "--watch", "--every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the CLI");
    let stdout = child.stdout.take().unwrap();
    let (rounds, mut child) = tokio::task::spawn_blocking(move || {
        let mut rounds = 0;
        for line in std::io::BufReader::new(stdout).lines() {
            if line.unwrap().starts_with("status at ") {
                rounds += 1;
                if rounds == 3 {
                    break;
                }
            }
        }
        (rounds, child)
    })
    .await
    .unwrap();
    assert_eq!(rounds, 3, "the output ended before the third round");
    assert!(child.try_wait().unwrap().is_none(), "it stops only when stopped");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `demo` and `simulate` are other packages of the workspace: the deployed binary keeps the commands
/// and their flags, says on stderr exactly what to run instead (the flags given included), writes
/// nothing on stdout and exits 3.
#[test]
fn demo_and_simulate_say_what_to_run_instead_and_exit_3() {
    let cases: [(&[&str], &str); 5] = [
        (&["demo"], "`cargo demo`"),
        (&["demo", "--json", "--time-scale", "20"], "`cargo demo --json --time-scale 20`"),
        (&["demo", "--time-scale", "20"], "`cargo run --release -p mpe-demo -- --time-scale 20`"),
        (&["simulate"], "`cargo run --release -p azure-sim -- --port 7780`"),
        (
            &["simulate", "--port", "7999", "--time-scale", "5"],
            "`cargo run --release -p azure-sim -- --port 7999 --time-scale 5`",
        ),
    ];
    for (args, says) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver")).env_clear().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should say {says}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mpe-approver")).env_clear().args(["demo", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown flag is a usage error, as before");
}

/// `pls-scan` as an operator runs it: bad input and nothing to scan are refused before anything is
/// read; `--dry-run --json` decides and changes nothing; without it the consumer the rule allows is
/// approved, the stranger is not, and the audit lines go to stderr with the function's other lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_pls_scan_approves_the_allowed_consumer_only() {
    const CONSUMER: &str = "c0c0c0c0-0000-4000-8000-00000000c0c0";
    const STRANGER: &str = "5772a93e-0000-4000-8000-00000000e0e0";
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock, SimOptions { approval_lro: Duration::from_millis(200), ..Default::default() })
        .await
        .unwrap();
    let pls = in_group(SUB, "rg-svc/providers/Microsoft.Network/privateLinkServices/svc");
    sim.add_pls(pls.as_str()).unwrap();
    let ok = sim.connect_to_pls(pls.as_str(), CONSUMER, "pe-a", "CHG0000001").unwrap();
    let no = sim.connect_to_pls(pls.as_str(), STRANGER, "pe-b", "hello").unwrap();
    let mut env = sim.handler_env();
    for bad in [vec!["pls-scan"], vec!["pls-scan", "--watch", "not-an-id"], vec!["pls-scan", "--dry-runn"]] {
        let out = cli(&env, &bad).await;
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(!out.stderr.is_empty(), "{bad:?} says why");
    }
    let mut narrow = env.clone();
    narrow.push(("MPE_TARGET_SUBSCRIPTIONS".into(), CONSUMER.into()));
    let out = cli(&narrow, &["pls-scan", "--watch", pls.as_str()]).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("MPE_TARGET_SUBSCRIPTIONS"));
    assert!(sim.pls_connections(pls.as_str()).iter().all(|c| c.puts == 0));
    env.push(("MPE_PLS_ALLOW".into(), format!("/subscriptions/{CONSUMER}->/subscriptions/{SUB}")));

    let out = cli(&env, &["pls-scan", "--watch", pls.as_str(), "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["wouldApprove"].as_u64(), r["strangersWaiting"].as_u64(), r["dryRun"].as_bool()),
        (Some(1), Some(1), Some(true)),
        "{r}"
    );
    assert!(sim.pls_connections(pls.as_str()).iter().all(|c| c.status == azure_sim::ConnectionStatus::Pending));

    env.push(("MPE_PLS_WATCH".into(), format!("/subscriptions/{SUB}/resourceGroups/rg-svc")));
    let out = cli(&env, &["pls-scan"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 approved") && stdout.contains("strangers waiting: 1"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("approved") && l.ends_with(&format!("{ok}\""))), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("left-pending    not-allowed")), "{stdout}");
    let audit: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("INFO: mpe.audit "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(audit.len(), 2, "{stderr}");
    assert_eq!(sim.pls_connection(pls.as_str(), &ok).unwrap().status, azure_sim::ConnectionStatus::Approved);
    assert_eq!(sim.pls_connection(pls.as_str(), &no).unwrap().status, azure_sim::ConnectionStatus::Pending);
}

/// `discover`: with no source turned on it says which settings to set; with Synapse on it lists the
/// workspaces' MPEs (a dry run queues nothing; a run queues the one not yet approved) and with the data
/// plane refusing the token it says what it could not read and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_discover_lists_and_queues_what_raises_no_event() {
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(clock, SimOptions::default()).await.unwrap();
    let ws = format!("/subscriptions/{SUB}/resourceGroups/rg-syn/providers/Microsoft.Synapse/workspaces/syn-cli");
    let mpe = format!("{ws}/managedVirtualNetworks/default/managedPrivateEndpoints/pe-cli");
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stcli");
    sim.add_mpe(azure_sim::MpeSpec::new(&mpe, storage.as_str())).unwrap();
    let mut env = sim.handler_env();
    env.push(("MPE_SWEEP_SCOPES".into(), format!("/subscriptions/{SUB}")));
    let out = cli(&env, &["discover"]).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("MPE_SYNAPSE=true"), "{out:?}");
    env.push(("MPE_SYNAPSE".into(), "true".into()));

    let out = cli(&env, &["discover", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["found"].as_array().map(Vec::len), Some(1), "the reserved MPEs are not listed: {r}");
    assert!(r["found"][0]["mpeId"].as_str().unwrap().eq_ignore_ascii_case(&mpe), "{r}");
    assert!(sim.work_messages().is_empty(), "a dry run queues nothing");

    let out = cli(&env, &["discover"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("queued") && l.contains("pe-cli")), "{stdout}");
    assert_eq!(sim.work_messages().len(), 1);

    sim.refuse_tokens(azure_sim::tokens::SYNAPSE_AUDIENCE, true);
    let out = cli(&env, &["discover"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("incomplete:") && l.contains("401")), "{stdout}");

    // `status` says what discovery watches: Synapse under the sweep scopes, Fabric the workspaces named.
    let workspace = format!("47482db6-4583-4672-86dd-999d0f8f4d7a@/subscriptions/{SUB}/resourceGroups/rg-fabric");
    env.push(("MPE_FABRIC".into(), "true".into()));
    env.push(("MPE_FABRIC_WORKSPACES".into(), workspace));
    let out = cli(&env, &["status", "--json"]).await;
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let watched = |service: &str| {
        st["discovery"].as_array().and_then(|d| d.iter().find(|d| d["service"] == service)).cloned().unwrap_or_default()
    };
    assert_eq!(watched("Synapse")["scopes"], serde_json::json!([format!("/subscriptions/{SUB}")]), "{st}");
    let fabric = format!(
        "/subscriptions/{SUB}/resourceGroups/rg-fabric/providers/MpeApprover.Fabric/workspaces/47482db6-4583-4672-86dd-999d0f8f4d7a"
    );
    assert_eq!(watched("Fabric")["scopes"], serde_json::json!([fabric]), "{st}");
}
