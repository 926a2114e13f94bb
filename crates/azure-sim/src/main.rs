//! `azure-sim`: the local Azure alone on loopback (the identity endpoint, ARM, Service Bus). Prints the
//! environment a custom handler needs as `export` lines, serves until Ctrl-C, then prints the report as
//! JSON. Logs go to stderr at info level unless RUST_LOG says otherwise (JSON with MPE_LOG_FORMAT=json).

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "azure-sim", version, about = "A local Azure on loopback: the identity endpoint, ARM, Service Bus")]
struct Cli {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 7780)]
    port: u16,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("MPE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).with_current_span(true).init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let run = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(azure_sim::run_standalone(cli.port, cli.time_scale)));
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
