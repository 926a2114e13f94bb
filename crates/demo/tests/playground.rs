//! The README's playground commands, as written: the first starts the playground (`cargo demo --playground`,
//! an alias for the mpe-demo binary, which takes the flag); the second block's `curl` lines run against a
//! playground started here (on a free port, time compressed), `sleep` standing for waiting until the read
//! says what the README promises: the MPE created through ARM, its event delivered, approved, no race.

use mpe_demo::playground::{Playground, TOKEN};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: f64 = 20.0;

/// The `sh` blocks of the README's playground section.
fn readme_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("## Try it by hand: the playground").expect("the README has the playground section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section.split("```sh\n").skip(1).map(|b| b.split("```").next().unwrap_or_default().to_string()).collect()
}

/// One command line's words, as `sh` splits them (single quotes only, which is all the README uses).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    assert!(!quoted, "an unclosed quote in {line}");
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A `curl` line run with reqwest: `-s` ignored, `-X`, `-H`, `-d`, the URL (its host the playground's).
async fn curl(args: &[String], base: &str) -> (u16, String) {
    let (mut method, mut headers, mut body, mut url) = ("GET".to_string(), Vec::new(), None, None);
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" => {}
            "-sX" | "-X" => method = it.next().unwrap().clone(),
            "-H" => headers.push(it.next().unwrap().clone()),
            "-d" => body = Some(it.next().unwrap().clone()),
            u if u.starts_with("http://127.0.0.1:7780/") => url = Some(u.replacen("http://127.0.0.1:7780", base, 1)),
            other => panic!("the README's curl takes {other:?}, which this test does not know"),
        }
    }
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url.expect("a URL"));
    for h in headers {
        let (k, v) = h.split_once(": ").unwrap();
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_playground_commands_create_an_mpe_that_is_approved() {
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0].trim(), "cargo demo --playground");
    let alias = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cargo/config.toml")).unwrap();
    assert!(alias.contains("demo = \"run --release --locked -p mpe-demo --\""), "{alias}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_mpe-demo")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--playground"));

    let play = Arc::new(Playground::start(0, SCALE).await.unwrap());
    let base = play.base_url().to_string();
    // The playground's loop: each MPE created through ARM gets its write event.
    let delivering = {
        let play = play.clone();
        tokio::spawn(async move {
            loop {
                play.deliver_created().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let commands: Vec<String> = blocks[1].replace("\\\n", " ").lines().map(str::to_string).collect();
    assert!(commands.iter().any(|c| c.contains(TOKEN)), "the README uses the playground's token");
    let mut answers = Vec::new();
    let mut wait: Option<Duration> = None;
    for c in commands.iter().filter(|c| !c.trim().is_empty()) {
        let w = words(c);
        match w[0].as_str() {
            "sleep" => wait = Some(Duration::from_secs_f64(w[1].parse::<f64>().unwrap() / SCALE)),
            "curl" => {
                // After a sleep, the read is asked until it says Approved, for at most three times the
                // (compressed) sleep: what the README promises by then.
                let until = Instant::now() + wait.take().map_or(Duration::ZERO, |d| d * 3);
                loop {
                    let (status, body) = curl(&w, &base).await;
                    if body.contains("\"status\":\"Approved\"") || Instant::now() >= until {
                        answers.push((status, body));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            other => panic!("the README's playground runs {other:?}, which this test does not know"),
        }
    }
    delivering.abort();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].0, 201, "created: {}", answers[0].1);
    assert!(answers[1].1.contains("\"status\":\"Approved\""), "{}", answers[1].1);
    let report = play.harness.sim.report();
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.mpes.iter().filter(|m| m.approved_by.is_some()).count(), 1);
}
