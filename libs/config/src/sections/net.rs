//! Address and URL types that are checked when the config is parsed.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::REDACTED;

macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A listen address: `:8080` (all interfaces), `127.0.0.1:0`, `[::]:9090`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr(String);

impl ListenAddr {
    /// The socket address to bind.
    pub fn socket_addr(&self) -> SocketAddr {
        // Checked at parse time, so this never falls back in practice.
        parse_listen(&self.0).unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    full.parse().map_err(|_| {
        format!(
            "invalid listen address {s:?}: write host:port, e.g. \":8080\" or \"127.0.0.1:8080\""
        )
    })
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_listen(s).map(|_| Self(s.to_owned()))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(ListenAddr, "a listen address");

/// A `host:port` network address (Redis, sentinels). Empty is allowed here;
/// the section decides whether it is required.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostPort(String);

impl HostPort {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let bad = || format!("invalid address {s:?}: write host:port, e.g. \"redis:6379\"");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(HostPort, "host:port");

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl FromStr for HttpUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "invalid URL {s:?}: must be http:// or https:// with a host"
            ));
        }
        Ok(Self(url))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

serde_via_str!(HttpUrl, "an http(s) URL");

/// An `amqp://` or `amqps://` URL. Its password never shows in `Debug`,
/// `Display` or dumps.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUrl(url::Url);

impl AmqpUrl {
    /// The URL with its password, for the one place that connects.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// A copy with `password` in place of the URL's own.
    pub fn with_password(&self, password: &str) -> Self {
        let mut url = self.0.clone();
        // Setting a password only fails on URLs without a host, refused at parse.
        let _ = url.set_password(Some(password));
        Self(url)
    }

    pub fn has_password(&self) -> bool {
        self.0.password().is_some()
    }
}

impl FromStr for AmqpUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s).map_err(|e| {
            // The error must not echo the URL: it may carry a password.
            format!("invalid AMQP URL: {e} (write amqp://user:password@host:5672/vhost)")
        })?;
        if !matches!(url.scheme(), "amqp" | "amqps") || url.host_str().is_none() {
            return Err("invalid AMQP URL: must be amqp:// or amqps:// with a host".into());
        }
        Ok(Self(url))
    }
}

impl fmt::Display for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.password().is_none() {
            return f.write_str(self.0.as_str());
        }
        let mut shown = self.0.clone();
        let _ = shown.set_password(None);
        let text = shown.as_str();
        let user_end = shown.scheme().len() + 3 + shown.username().len();
        write!(f, "{}:{REDACTED}{}", &text[..user_end], &text[user_end..])
    }
}

impl fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmqpUrl({self})")
    }
}

serde_via_str!(AmqpUrl, "an amqp URL");

impl ListenAddr {
    /// For defaults written in code; a unit test checks they parse.
    pub(crate) fn from_static(s: &'static str) -> Self {
        Self(s.to_owned())
    }
}

impl HttpUrl {
    /// For defaults written in code; a unit test checks they parse.
    #[allow(clippy::expect_used)]
    pub(crate) fn from_static(s: &'static str) -> Self {
        Self(url::Url::parse(s).expect("default URLs in code are valid"))
    }
}
