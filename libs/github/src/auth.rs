//! Credentials of one org: a GitHub App installation (JWT signed with the
//! App's key, exchanged for an installation token that is cached and
//! refreshed before it expires, one refresh at a time) or a personal access
//! token. Secrets never show in `Debug` output.

use std::fmt;

use chrono::{DateTime, Utc};
use ghstats_config::Secret;
use octocrab::EncodingKey;

/// The default: refresh an installation token this long before it expires.
pub const REFRESH_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Clone)]
pub enum Credentials {
    App {
        app_id: u64,
        installation_id: u64,
        key: EncodingKey,
    },
    Token(Secret),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("App")
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .field("key", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl Credentials {
    /// An App from its id, installation and PEM private key.
    pub fn app(app_id: u64, installation_id: u64, pem: &[u8]) -> Result<Self, crate::GithubError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| {
            crate::GithubError::Credentials(format!(
                "App {app_id}: private key is not an RSA PEM key: {e}"
            ))
        })?;
        Ok(Self::App {
            app_id,
            installation_id,
            key,
        })
    }

    /// The `installation_id` label of rate-limit metrics (`token` for a PAT).
    pub fn installation_label(&self) -> String {
        match self {
            Self::App {
                installation_id, ..
            } => installation_id.to_string(),
            Self::Token(_) => "token".to_owned(),
        }
    }

    /// A fresh App JWT (RS256, issued a minute in the past, valid 9 minutes).
    pub(crate) fn jwt(&self) -> Result<Option<String>, crate::GithubError> {
        let Self::App { app_id, key, .. } = self else {
            return Ok(None);
        };
        octocrab::auth::create_jwt(octocrab::models::AppId(*app_id), key)
            .map(Some)
            .map_err(|e| crate::GithubError::Credentials(format!("cannot sign the App JWT: {e}")))
    }
}

/// A minted installation token.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}
