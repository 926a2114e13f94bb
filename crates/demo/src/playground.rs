//! The playground (`cargo demo --playground`): the local Azure on a fixed port with the approver behind
//! its Functions host emulator, left running for a person to create MPEs with `curl` (or `az rest`) and
//! watch them being approved.
//!
//! What runs: the simulator on `127.0.0.1:{port}` (its ARM at `/arm`, Synapse's data plane at `/synapse`,
//! the Databricks account API at `/databricks`, the Fabric REST API at `/fabric`), accepting the typed token [`TOKEN`] for each of them; an
//! in-process handler configured as the demo's; and a loop that delivers the `ResourceWriteSuccess` event
//! of every MPE created through ARM, pumps the work queue, runs `MpeDiscover` every minute (for the
//! sources without events) and prints what was approved, parked or refused.

use crate::harness::Harness;
use crate::harness::FABRIC_RULE;
use anyhow::Context;
use azure_sim::SimOptions;
use std::collections::BTreeSet;
use std::time::Duration;

/// The token the playground accepts for ARM, Synapse's data plane, the Databricks account API and the
/// Fabric REST API.
pub const TOKEN: &str = "playground";

/// The playground's subscription: the one its examples use and its sweep scope.
pub const SUBSCRIPTION: &str = "0b5e55ed-0000-4000-8000-000000000001";

/// The playground's Synapse workspace (in `rg-play`), whose data plane takes MPEs.
pub const WORKSPACE: &str = "syn-play";
/// The playground's Databricks account and network connectivity configuration (`MPE_DATABRICKS_NCCS`).
pub const DBX_ACCOUNT: &str = "00000000-0000-4000-8000-0000000000db";
pub const DBX_NCC: &str = "00000000-0000-4000-8000-00000000dcc0";
/// The playground's Fabric workspace (`MPE_FABRIC_WORKSPACES`), its private endpoints named by the
/// operator's rule as the simulator names them (Fabric publishes no name).
pub const FABRIC_WORKSPACE: &str = "00000000-0000-4000-8000-0000000fab01";

/// A running playground.
pub struct Playground {
    pub harness: Harness,
    pump: azure_sim::QueuePump,
}

impl Playground {
    /// Start the simulator on `port` (0: any free one) and the handler behind it, `time_scale` simulated
    /// seconds a real second (the playground runs in real time; tests compress it).
    pub async fn start(port: u16, time_scale: f64) -> anyhow::Result<Playground> {
        let scope = format!("/subscriptions/{SUBSCRIPTION}");
        let home = format!("{scope}/resourceGroups/rg-play");
        let nccs = format!("{DBX_ACCOUNT}/{DBX_NCC}@{home}");
        let workspaces = format!("{FABRIC_WORKSPACE}@{home}");
        let settings = [
            ("MPE_SWEEP_SCOPES", scope.as_str()),
            ("MPE_DATABRICKS_NCCS", nccs.as_str()),
            ("MPE_FABRIC_WORKSPACES", workspaces.as_str()),
            ("MPE_ENDPOINT_NAMES", FABRIC_RULE),
        ];
        let harness = Harness::start_with(time_scale, &settings, SimOptions { port, ..Default::default() })
            .await
            .with_context(|| format!("starting the playground on 127.0.0.1:{port}"))?;
        for audience in [
            azure_sim::tokens::ARM_AUDIENCE,
            azure_sim::tokens::SYNAPSE_AUDIENCE,
            azure_sim::tokens::DATABRICKS_AUDIENCE,
            azure_sim::tokens::FABRIC_AUDIENCE,
        ] {
            harness.sim.accept_token(TOKEN, audience);
        }
        harness.sim.add_synapse_workspace(format!("{home}/providers/Microsoft.Synapse/workspaces/{WORKSPACE}"))?;
        harness.sim.add_databricks_ncc(DBX_ACCOUNT, DBX_NCC, &home)?;
        harness.sim.add_fabric_workspace(FABRIC_WORKSPACE, &home)?;
        let pump = harness.host.run_queue_pump("mpe-approvals", Duration::from_millis(200))?;
        Ok(Playground { harness, pump })
    }

    /// The simulator's base URL (`http://127.0.0.1:{port}`).
    pub fn base_url(&self) -> &str {
        self.harness.sim.base_url()
    }

    /// Deliver the write event of each MPE created through ARM since the last step; returns their ids.
    pub async fn deliver_created(&self) -> anyhow::Result<Vec<String>> {
        let created = self.harness.sim.take_created();
        for id in &created {
            let now = mpe_approver::clock::Clock::now(self.harness.clock.as_ref());
            let ev = azure_sim::write_success_event(id, now);
            let r = self.harness.host.deliver_event(&ev).await?;
            anyhow::ensure!(r.success, "the MpeEvent invocation for {id} failed: {:?}", r.error);
        }
        Ok(created)
    }

    /// One `MpeDiscover` run, as its timer would.
    pub async fn discover(&self) -> anyhow::Result<()> {
        let timer = serde_json::json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false});
        let data = [("timer".to_string(), timer)].into_iter().collect();
        let r = self.harness.host.invoke("MpeDiscover", data, Default::default(), 1).await;
        anyhow::ensure!(r.success, "the MpeDiscover invocation failed: {:?}", r.error);
        Ok(())
    }

    /// Stop the queue pump.
    pub async fn stop(self) {
        self.pump.stop().await;
    }
}

/// The instructions printed at start: the base URL, the token and a first MPE to create and read.
pub fn instructions(base: &str) -> String {
    let mpe = format!(
        "{base}/arm/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-play/providers/Microsoft.DataFactory/factories/adf-play/managedVirtualNetworks/default/managedPrivateEndpoints/mpe-play?api-version=2018-06-01"
    );
    let target = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-play/providers/Microsoft.Storage/storageAccounts/stplay"
    );
    format!(
        "mpe-approver playground: the local Azure on {base}, the approver behind it (Ctrl-C stops both)\n\
         \n  ARM:                  {base}/arm\n  Synapse data plane:   {base}/synapse/{WORKSPACE} (workspace {WORKSPACE})\n  \
         Databricks accounts:  {base}/databricks (account {DBX_ACCOUNT}, NCC {DBX_NCC})\n  \
         Fabric REST API:      {base}/fabric (workspace {FABRIC_WORKSPACE})\n  token (every audience): {TOKEN}\n\
         \nCreate an MPE (a Data Factory's, to a storage account in the same subscription):\n\n  \
         curl -sX PUT -H 'Authorization: Bearer {TOKEN}' -H 'Content-Type: application/json' \\\n    \
         '{mpe}' \\\n    -d '{{\"properties\": {{\"privateLinkResourceId\": \"{target}\", \"groupId\": \"blob\"}}}}'\n\
         \nRead it (Approved about 15 s later):\n\n  curl -s -H 'Authorization: Bearer {TOKEN}' '{mpe}'\n"
    )
}

/// Run until Ctrl-C: print the instructions, then every approval, park and refusal as it happens.
pub async fn run(port: u16) -> anyhow::Result<()> {
    let play = Playground::start(port, 1.0).await?;
    eprintln!("{}", instructions(play.base_url()));
    let mut said: BTreeSet<String> = BTreeSet::new();
    let mut discovered = std::time::Instant::now() - Duration::from_secs(60);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        for id in play.deliver_created().await? {
            eprintln!("created  {id} (its ResourceWriteSuccess event delivered)");
        }
        if discovered.elapsed() >= Duration::from_secs(60) {
            discovered = std::time::Instant::now();
            play.discover().await?;
        }
        for m in play.harness.sim.report().mpes {
            if m.approved_by.is_some() && said.insert(format!("approved {}", m.id)) {
                eprintln!("approved {}", m.id);
            }
        }
        for p in play.harness.sim.parked() {
            let get = |k: &str| p.properties.get(k).cloned().unwrap_or_default();
            if said.insert(format!("parked {}", p.message_id)) {
                eprintln!("parked   {} [{}] {}", get("mpeid"), get("parkcode"), get("parkreason"));
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    play.stop().await;
    eprintln!("mpe-approver playground: stopped");
    Ok(())
}
