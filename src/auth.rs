//! Entra ID tokens. Production: azure_identity's `ManagedIdentityCredential` when running in Azure
//! (App Service sets `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`), a developer credential (Azure CLI / azd)
//! otherwise. Behind a trait so the simulator's in-process demo can hand out its own tokens.

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("could not get a token for {audience}: {message}")]
pub struct AuthError {
    pub audience: String,
    pub message: String,
}

#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A bearer token for `audience` (e.g. `https://management.azure.com`).
    async fn token(&self, audience: &str) -> Result<String, AuthError>;
}

pub struct AzureIdentity {
    credential: Arc<dyn TokenCredential>,
    kind: &'static str,
}

impl AzureIdentity {
    /// Managed identity when the App Service identity endpoint is present (or `MSI_ENDPOINT`/IMDS is
    /// requested with `AZURE_CLIENT_ID` on a VM), otherwise the developer tools (Azure CLI, azd).
    pub fn from_env(client_id: Option<String>) -> anyhow::Result<AzureIdentity> {
        use azure_identity::{
            DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
        };
        let in_azure = std::env::var_os("IDENTITY_ENDPOINT").is_some() || std::env::var_os("MPE_USE_IMDS").is_some();
        if in_azure {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.map(UserAssignedId::ClientId),
                ..Default::default()
            };
            let credential = ManagedIdentityCredential::new(Some(options))?;
            Ok(AzureIdentity { credential, kind: "managed identity" })
        } else {
            let credential = DeveloperToolsCredential::new(None)?;
            Ok(AzureIdentity { credential, kind: "developer tools (Azure CLI / azd)" })
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

#[async_trait]
impl TokenSource for AzureIdentity {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        let scope = format!("{}/.default", audience.trim_end_matches('/'));
        self.credential
            .get_token(&[scope.as_str()], None)
            .await
            .map(|t| t.token.secret().to_string())
            .map_err(|e| AuthError { audience: audience.to_string(), message: format!("{} ({})", e, self.kind) })
    }
}
