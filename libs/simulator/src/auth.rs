//! Credentials as GitHub checks them: App JWTs (RS256, verified against the
//! App's public key, short-lived), installation tokens minted from them
//! (expiring, bound to one org), and personal access tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::SimError;
use crate::rng::Rng;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Installation { id: u64, org: String },
    Pat { token_name: String },
}

impl Caller {
    /// The rate-limit bucket of this caller.
    pub fn bucket(&self) -> String {
        match self {
            Caller::Installation { id, .. } => format!("installation:{id}"),
            Caller::Pat { token_name } => format!("token:{token_name}"),
        }
    }

    /// Whether this caller may see `org`'s repositories.
    pub fn may_read(&self, org: &str) -> bool {
        match self {
            Caller::Installation { org: own, .. } => own.eq_ignore_ascii_case(org),
            Caller::Pat { .. } => true,
        }
    }
}

#[derive(Debug, Clone)]
struct IssuedToken {
    installation_id: u64,
    expires_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Auth {
    apps: HashMap<u64, DecodingKey>,
    /// installation id -> (app id, org login)
    installations: HashMap<u64, (u64, String)>,
    /// accepted personal access tokens -> a name for logs and buckets
    pats: HashMap<String, String>,
    tokens: Mutex<HashMap<String, IssuedToken>>,
    mints: Mutex<HashMap<u64, u64>>,
    rng: Mutex<Rng>,
    pub token_ttl: Duration,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: serde_json::Value,
}

/// A refusal: status and GitHub's message.
pub type Refusal = (u16, &'static str);

const BAD_CREDENTIALS: Refusal = (401, "Bad credentials");

impl Auth {
    pub fn new(token_ttl: Duration, seed: u64) -> Self {
        Self {
            apps: HashMap::new(),
            installations: HashMap::new(),
            pats: HashMap::new(),
            tokens: Mutex::new(HashMap::new()),
            mints: Mutex::new(HashMap::new()),
            rng: Mutex::new(Rng::new(seed ^ 0xA5A5)),
            token_ttl,
        }
    }

    pub fn add_app(&mut self, app_id: u64, public_key_pem: &[u8]) -> Result<(), SimError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem).map_err(SimError::BadKey)?;
        self.apps.insert(app_id, key);
        Ok(())
    }

    pub fn add_installation(&mut self, installation_id: u64, app_id: u64, org: &str) {
        self.installations
            .insert(installation_id, (app_id, org.to_owned()));
    }

    pub fn add_pat(&mut self, token: &str, name: &str) {
        self.pats.insert(token.to_owned(), name.to_owned());
    }

    /// The App whose JWT `authorization` carries (the App API: `/app/...`).
    pub fn app_of(&self, authorization: Option<&str>) -> Result<u64, Refusal> {
        let jwt = bearer(authorization).ok_or((401, "A JSON web token could not be decoded"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat"]);
        validation.leeway = 0;
        for (app_id, key) in &self.apps {
            if let Ok(claims) = jsonwebtoken::decode::<Claims>(jwt, key, &validation) {
                let iss = match &claims.claims.iss {
                    serde_json::Value::Number(n) => n.as_u64(),
                    serde_json::Value::String(s) => s.parse::<u64>().ok(),
                    _ => None,
                };
                if iss == Some(*app_id) {
                    return Ok(*app_id);
                }
            }
        }
        Err((401, "A JSON web token could not be decoded"))
    }

    /// `POST /app/installations/{id}/access_tokens` with `Bearer <jwt>`.
    pub fn mint(
        &self,
        authorization: Option<&str>,
        installation_id: u64,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), Refusal> {
        let jwt = bearer(authorization).ok_or((401, "A JSON web token could not be decoded"))?;
        let &(app_id, _) = self
            .installations
            .get(&installation_id)
            .ok_or((404, "Not Found"))?;
        let key = self
            .apps
            .get(&app_id)
            .ok_or((401, "Integration not found"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat"]);
        validation.leeway = 0;
        let claims =
            jsonwebtoken::decode::<Claims>(jwt, key, &validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => (
                    401,
                    "'Expiration time' claim ('exp') is too far in the past",
                ),
                _ => (401, "A JSON web token could not be decoded"),
            })?;
        let iss_ok = match &claims.claims.iss {
            serde_json::Value::Number(n) => n.as_u64() == Some(app_id),
            serde_json::Value::String(s) => s.parse::<u64>().ok() == Some(app_id),
            _ => false,
        };
        if !iss_ok {
            return Err((401, "'Issuer' claim ('iss') must be an Integer"));
        }
        let token = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            format!("ghs_{:016x}{:016x}", rng.next_u64(), rng.next_u64())
        };
        let expires_at = now + self.token_ttl;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                token.clone(),
                IssuedToken {
                    installation_id,
                    expires_at,
                },
            );
        *self
            .mints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(installation_id)
            .or_default() += 1;
        Ok((token, expires_at))
    }

    /// Identifies the caller of an API request.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, Refusal> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("token ")
                    .or_else(|| h.strip_prefix("Bearer "))
            })
            .ok_or((401, "Requires authentication"))?;
        if let Some(name) = self.pats.get(token) {
            return Ok(Caller::Pat {
                token_name: name.clone(),
            });
        }
        let issued = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
            .ok_or(BAD_CREDENTIALS)?;
        if issued.expires_at <= now {
            return Err(BAD_CREDENTIALS);
        }
        let (_, org) = self
            .installations
            .get(&issued.installation_id)
            .ok_or(BAD_CREDENTIALS)?;
        Ok(Caller::Installation {
            id: issued.installation_id,
            org: org.clone(),
        })
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Installation tokens minted so far, per installation.
    pub fn mint_counts(&self) -> HashMap<u64, u64> {
        self.mints.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn bearer(h: Option<&str>) -> Option<&str> {
    h?.strip_prefix("Bearer ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(key_pem: &[u8], iss: u64, iat: i64, exp: i64) -> String {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem).unwrap();
        let claims = serde_json::json!({ "iss": iss, "iat": iat, "exp": exp });
        jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), &claims, &key).unwrap()
    }

    fn auth() -> Auth {
        let mut auth = Auth::new(Duration::hours(1), 1);
        auth.add_app(1000, crate::DEMO_APP_PUBLIC_KEY).unwrap();
        auth.add_installation(2000, 1000, "org-a");
        auth
    }

    #[test]
    fn mints_for_a_valid_jwt_and_refuses_bad_ones() {
        let auth = auth();
        let now = Utc::now();
        let t = now.timestamp();
        let good = jwt(crate::DEMO_APP_PRIVATE_KEY, 1000, t - 60, t + 540);
        let (token, _) = auth
            .mint(Some(&format!("Bearer {good}")), 2000, now)
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&format!("token {token}")), now),
            Ok(Caller::Installation {
                id: 2000,
                org: "org-a".into()
            })
        );
        let expired = jwt(crate::DEMO_APP_PRIVATE_KEY, 1000, t - 1200, t - 600);
        assert_eq!(
            auth.mint(Some(&format!("Bearer {expired}")), 2000, now)
                .unwrap_err()
                .0,
            401
        );
        let wrong_key = jwt(crate::UNTRUSTED_PRIVATE_KEY, 1000, t - 60, t + 540);
        assert_eq!(
            auth.mint(Some(&format!("Bearer {wrong_key}")), 2000, now)
                .unwrap_err()
                .0,
            401
        );
        let wrong_app = jwt(crate::DEMO_APP_PRIVATE_KEY, 999, t - 60, t + 540);
        assert_eq!(
            auth.mint(Some(&format!("Bearer {wrong_app}")), 2000, now)
                .unwrap_err()
                .0,
            401
        );
        // The token expires with simulated time.
        let later = now + Duration::hours(2);
        assert_eq!(
            auth.authenticate(Some(&format!("token {token}")), later),
            Err(BAD_CREDENTIALS)
        );
    }
}
