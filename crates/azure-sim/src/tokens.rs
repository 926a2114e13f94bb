//! The token book of the simulated Azure: the tokens the identity endpoint ([`crate::identity`]) issues,
//! which ARM and Service Bus check bearer tokens against, and the audiences they are for.
//!
//! Tokens are opaque random strings remembered with their audience and client id. The book must never
//! accept a token for another audience, an expired one, or one of an audience it is told to refuse.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

pub const ARM_AUDIENCE: &str = "https://management.azure.com";
pub const SERVICEBUS_AUDIENCE: &str = "https://servicebus.azure.net";
/// The Synapse data plane's audience ("NOT https://management.core.windows.net/", Synapse REST docs).
pub const SYNAPSE_AUDIENCE: &str = "https://dev.azuresynapse.net";
/// The Databricks account API's audience: the Azure Databricks application's id.
pub const DATABRICKS_AUDIENCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
/// The Fabric REST API's audience ([`crate::fabric`]).
pub const FABRIC_AUDIENCE: &str = "https://api.fabric.microsoft.com";

/// Who a token was issued to.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub audience: String,
    pub client_id: Option<String>,
    pub issued_at: DateTime<Utc>,
    /// Set by [`TokenBook::expire_all`]: ARM and Service Bus answer it 401 as expired.
    pub expired: bool,
}

impl TokenInfo {
    /// The principal, for "approved by" records.
    pub fn principal(&self) -> String {
        match &self.client_id {
            Some(c) => format!("managed identity {c}"),
            None => "system-assigned managed identity".to_string(),
        }
    }
}

#[derive(Default)]
pub struct TokenBook {
    tokens: HashMap<String, TokenInfo>,
    /// Tokens a person types ([`TokenBook::issue_as`]), each good for the audiences it was given.
    typed: HashMap<String, Vec<TokenInfo>>,
    /// Audiences (normalised) for which every token, old or new, is refused ([`TokenBook::refuse`]).
    refused: HashSet<String>,
}

/// Why a bearer token was not accepted: ARM's error code (also used for Service Bus's detail) and
/// its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    pub code: &'static str,
    pub message: String,
}

impl TokenRefusal {
    fn failed(message: &str) -> Self {
        TokenRefusal { code: "AuthenticationFailed", message: message.to_string() }
    }
}

/// `https://management.azure.com/`, `https://management.azure.com/.default` → `https://management.azure.com`.
pub fn normalise_audience(a: &str) -> String {
    let a = a.trim();
    let a = a.strip_suffix("/.default").unwrap_or(a);
    a.trim_end_matches('/').to_ascii_lowercase()
}

impl TokenBook {
    pub fn issue(&mut self, audience: &str, client_id: Option<String>, now: DateTime<Utc>) -> String {
        let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(
            token.clone(),
            TokenInfo { audience: normalise_audience(audience), client_id, issued_at: now, expired: false },
        );
        token
    }
    /// Accept `token` for `audience` from now on, as if the identity endpoint had issued it (a token a
    /// person types: the playground's).
    pub fn issue_as(&mut self, token: &str, audience: &str, now: DateTime<Utc>) {
        let info =
            TokenInfo { audience: normalise_audience(audience), client_id: None, issued_at: now, expired: false };
        self.typed.entry(token.to_string()).or_default().push(info);
    }
    /// Every token issued so far expires now (as when a token is revoked, or a clock jumps): the next
    /// use of one is answered 401 `ExpiredAuthenticationToken`; tokens issued later are good.
    pub fn expire_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.expired = true;
        }
    }
    /// While `on`, every token for `audience` (old or new) is refused with 401
    /// `InvalidAuthenticationTokenTenant`, as ARM answers a token from the wrong tenant.
    pub fn refuse(&mut self, audience: &str, on: bool) {
        let a = normalise_audience(audience);
        if on {
            self.refused.insert(a);
        } else {
            self.refused.remove(&a);
        }
    }
    pub fn issued(&self) -> usize {
        self.tokens.len()
    }
    /// The token's holder if `headers` carry `Authorization: Bearer <token>` for `audience`, good now.
    /// The refusals' codes and messages are ARM's (`ExpiredAuthenticationToken`, e.g.
    /// microsoft/vscode-azureappservice#2483; `InvalidAuthenticationTokenTenant`,
    /// Azure/azure-sdk-for-net#49391).
    pub fn check(&self, headers: &HeaderMap, audience: &str) -> Result<TokenInfo, TokenRefusal> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(TokenRefusal::failed("missing Authorization header"))?
            .to_str()
            .map_err(|_| TokenRefusal::failed("Authorization header is not ASCII"))?;
        let (scheme, token) =
            value.split_once(' ').ok_or(TokenRefusal::failed("Authorization header is not 'Bearer <token>'"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenRefusal::failed("Authorization scheme is not Bearer"));
        }
        let typed =
            self.typed.get(token.trim()).and_then(|t| t.iter().find(|i| i.audience == normalise_audience(audience)));
        let info = typed.or_else(|| self.tokens.get(token.trim())).ok_or(TokenRefusal::failed("unknown token"))?;
        if info.audience != normalise_audience(audience) {
            return Err(TokenRefusal::failed("token was issued for another audience"));
        }
        if self.refused.contains(&info.audience) {
            return Err(TokenRefusal {
                code: "InvalidAuthenticationTokenTenant",
                message: "The access token is from the wrong issuer 'https://sts.windows.net/00000000-0000-0000-0000-00000000aaaa/'. \
                          It must match the tenant 'https://sts.windows.net/00000000-0000-0000-0000-00000000bbbb/' associated \
                          with this subscription."
                    .into(),
            });
        }
        if info.expired {
            return Err(TokenRefusal {
                code: "ExpiredAuthenticationToken",
                message: format!(
                    "The access token expiry UTC time '{}' is earlier than current UTC time.",
                    info.issued_at.format("%-m/%-d/%Y %-I:%M:%S %p")
                ),
            });
        }
        Ok(info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_normalised_and_checked() {
        let mut b = TokenBook::default();
        let t = b.issue("https://management.azure.com/", None, Utc::now());
        let mut h = HeaderMap::new();
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_ok());
        assert!(b.check(&h, "https://management.azure.com/.default").is_ok());
        assert_eq!(b.check(&h, SERVICEBUS_AUDIENCE).unwrap_err().message, "token was issued for another audience");
        b.expire_all();
        assert_eq!(b.check(&h, ARM_AUDIENCE).unwrap_err().code, "ExpiredAuthenticationToken");
        let fresh = b.issue(ARM_AUDIENCE, None, Utc::now());
        h.insert("authorization", format!("Bearer {fresh}").parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_ok(), "a token issued after the expiry is good");
        b.refuse(ARM_AUDIENCE, true);
        assert_eq!(b.check(&h, ARM_AUDIENCE).unwrap_err().code, "InvalidAuthenticationTokenTenant");
        b.refuse(ARM_AUDIENCE, false);
        assert!(b.check(&h, ARM_AUDIENCE).is_ok());
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(b.check(&h, ARM_AUDIENCE).is_err());
    }
}
