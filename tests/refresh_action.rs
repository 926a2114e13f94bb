//! A service's refresh of its MPEs (Managed Grafana's `refreshManagedPrivateEndpoints`) as the approver
//! sends it and the simulator answers it, held to the official example
//! (`ManagedPrivateEndpoints_Refresh.json`: `200` with no body, or `202` with `Azure-AsyncOperation`).

mod common;

use azure_sim::{ScaledClock, SimOptions, Simulator};
use common::example;
use mpe_approver::arm::ArmClient;
use mpe_approver::http::{AuthError, TokenSource};
use mpe_approver::providers::{for_id, registry};
use mpe_approver::resource_id::ResourceId;
use std::sync::Arc;

struct SimTokens(Arc<Simulator>);

#[async_trait::async_trait]
impl TokenSource for SimTokens {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        Ok(self.0.issue_token(audience))
    }
}

#[tokio::test]
async fn the_refresh_is_answered_as_the_example_says_and_shows_the_approval() {
    let refresh = example("Microsoft.Dashboard/2024-10-01/ManagedPrivateEndpoints_Refresh.json");
    let responses = refresh["responses"].as_object().expect("responses");
    assert!(responses["202"]["headers"].get("Azure-AsyncOperation").is_some());

    // Simulated time runs 100x: the refresh's 4 s take 40 ms.
    let clock = Arc::new(ScaledClock::new(chrono::Utc::now(), 100.0));
    let sim = Arc::new(Simulator::start(clock, SimOptions::default()).await.unwrap());
    let sub = "0b5e55ed-0000-4000-8000-00000000f001";
    let ws = format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Dashboard/grafana/g1");
    let mpe = ResourceId::parse(&format!("{ws}/managedPrivateEndpoints/m1")).unwrap();
    let target = format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Monitor/accounts/amw1");
    let zero = std::time::Duration::ZERO;
    let pec = sim.add_mpe(azure_sim::MpeSpec::new(mpe.as_str(), &target).timing(zero, zero)).unwrap();

    let provider = for_id(&mpe).expect("Grafana is a provider");
    let r = provider.refresh(&mpe).expect("Grafana refreshes");
    assert_eq!(r.path, format!("{ws}/refreshManagedPrivateEndpoints"));
    assert_eq!(registry().iter().filter(|p| p.refresh(&mpe).is_some()).count(), 1, "only Grafana's MPE lags");

    // The simulator's answer, read raw: a status the example lists, and its Azure-AsyncOperation.
    let token = sim.issue_token("https://management.azure.com");
    let url = format!("{}{}?api-version={}", sim.arm_endpoint(), r.path, r.api_version);
    let resp =
        reqwest::Client::new().post(&url).bearer_auth(&token).header("content-length", "0").send().await.unwrap();
    let status = resp.status().as_u16().to_string();
    assert!(responses.contains_key(&status), "{status} is not an answer of the example");
    if status == "202" {
        assert!(resp.headers().contains_key("azure-asyncoperation"));
    }

    // The approver's POST, then the MPE once its connection is approved and refreshed.
    let arm = ArmClient::new(
        &url::Url::parse(&sim.arm_endpoint()).unwrap(),
        "https://management.azure.com".into(),
        Arc::new(SimTokens(sim.clone())),
        Arc::new(mpe_approver::clock::SystemClock),
    )
    .unwrap();
    sim.approve_connection(&target, &pec, "a human", "Approved").unwrap();
    let read =
        || async { provider.parse(&mpe, &arm.get(&mpe, provider.api_version()).await.unwrap().unwrap()).unwrap() };
    assert_eq!(read().await.status, mpe_approver::providers::MpeStatus::AwaitingApproval, "Grafana lags");
    let written = arm.post(&r.path, r.api_version).await.unwrap();
    assert!(responses.contains_key(&written.status.to_string()), "{}", written.status);
    assert!(written.body.is_none(), "the refresh answers no body");
    let mut status = read().await.status;
    for _ in 0..100 {
        if status != mpe_approver::providers::MpeStatus::AwaitingApproval {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        status = read().await.status;
    }
    assert_eq!(status, mpe_approver::providers::MpeStatus::Approved, "shown once the refresh is done");
}
