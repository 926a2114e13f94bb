//! `mpe-demo` (`cargo demo` from a source checkout): the whole flow on the local Azure simulator, then
//! a summary table (or JSON with `--json`). Exits 0 when every case ended as expected, 1 otherwise.
//! Handler and simulator logs go to stderr at error level unless RUST_LOG asks for more (JSON lines with
//! MPE_LOG_FORMAT=json).

use anyhow::Context;
use clap::Parser;
use mpe_approver::logsafe::{self, scrub};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mpe-demo",
    version,
    about = "Run the whole flow on the local Azure simulator and print a summary (no Azure needed)"
)]
struct Cli {
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 10.0)]
    time_scale: f64,
    /// Instead of the scripted cases: keep the local Azure and the approver running (real time) for you to
    /// create MPEs with curl and watch them approved; prints how. Ctrl-C stops it.
    #[arg(long, conflicts_with_all = ["json", "time_scale"])]
    playground: bool,
    /// The playground's port on 127.0.0.1.
    #[arg(long, default_value_t = 7780, requires = "playground")]
    port: u16,
}

async fn demo(json: bool, time_scale: f64) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(time_scale.is_finite() && (1.0..=1000.0).contains(&time_scale), "--time-scale must be 1 to 1000");
    let opts = mpe_demo::DemoOptions { time_scale, progress: !json, ..Default::default() };
    if !json {
        eprintln!(
            "mpe-approver demo: starting the local Azure simulator and the handler (time compressed {time_scale}x)"
        );
    }
    let report = mpe_demo::run(&opts).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", mpe_demo::render(&report));
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = mpe_approver::config::ProcessEnv::from_env().json_logs;
    logsafe::init_tracing("error", json_logs, false);
    let run = tokio::runtime::Runtime::new().context("cannot start the async runtime").and_then(|rt| {
        if cli.playground {
            rt.block_on(mpe_demo::playground::run(cli.port)).map(|_| ExitCode::SUCCESS)
        } else {
            rt.block_on(demo(cli.json, cli.time_scale))
        }
    });
    match run {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", scrub(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
