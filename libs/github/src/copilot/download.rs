//! The download of a Copilot report link: a plain GET of the signed URL
//! with no credentials, no redirects followed, only to hosts on
//! `copilot.download_host_allowlist`, under `copilot.download_timeout`;
//! the body (gzip or not) is streamed through a [`LineSplitter`] so memory
//! stays bounded by one line whatever the report's size.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

use super::ReportError;
use super::lines::{Line, LineSplitter, MAX_LINE_BYTES};
use crate::GithubError;

/// Host patterns: `*.example.com` matches any subdomain of example.com,
/// anything else matches that host exactly (case-insensitive, any port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAllowlist(Vec<String>);

impl HostAllowlist {
    pub fn new(patterns: &[String]) -> Self {
        Self(
            patterns
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .collect(),
        )
    }

    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|p| match p.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => *p == host,
        })
    }
}

/// What a finished download was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    pub status: u16,
    pub bytes: u64,
    pub gzip: bool,
}

/// The download client, shared by every org (it holds no credentials).
#[derive(Debug, Clone)]
pub struct Downloader {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    allow: Arc<HostAllowlist>,
    timeout: Duration,
}

impl Downloader {
    /// Fails only when TLS cannot be set up at all (as the API client does).
    pub fn new(allow: HostAllowlist, timeout: Duration) -> Result<Self, GithubError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let tls = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system CA certificates: https report downloads will fail");
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| {
                        GithubError::Credentials(format!(
                            "cannot build the report download client: {e}"
                        ))
                    })?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = tls.https_or_http().enable_http1().build();
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            allow: Arc::new(allow),
            timeout,
        })
    }

    pub fn from_config(c: &ghstats_config::CopilotConfig) -> Result<Self, GithubError> {
        Self::new(
            HostAllowlist::new(&c.download_host_allowlist),
            c.download_timeout.get(),
        )
    }

    /// Fetches `url` and hands each line to `on_line`.
    pub(super) async fn fetch(
        &self,
        url: &Url,
        on_line: &mut (dyn FnMut(Line<'_>) + Send),
    ) -> Result<Downloaded, ReportError> {
        let host = url.host_str().unwrap_or_default();
        if !matches!(url.scheme(), "https" | "http") || !self.allow.allows(host) {
            return Err(ReportError::HostRefused {
                host: host.to_owned(),
            });
        }
        tokio::time::timeout(self.timeout, self.stream(url, on_line))
            .await
            .map_err(|_| ReportError::Download(format!("timed out after {:?}", self.timeout)))?
    }

    async fn stream(
        &self,
        url: &Url,
        on_line: &mut (dyn FnMut(Line<'_>) + Send),
    ) -> Result<Downloaded, ReportError> {
        let request = http::Request::get(url.as_str())
            .header(header::USER_AGENT, crate::client::user_agent())
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Empty::<Bytes>::new())
            .map_err(|e| ReportError::Download(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| ReportError::Download(crate::client::describe(&e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ReportError::DownloadStatus { status });
        }
        let encoded_gzip = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let mut body = response.into_body();
        let mut bytes = 0u64;
        let mut next_chunk = async || -> Result<Option<Bytes>, ReportError> {
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| ReportError::Download(crate::client::describe(&e)))?;
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    return Ok(Some(data));
                }
            }
            Ok(None)
        };
        let Some(first) = next_chunk().await? else {
            return Ok(Downloaded {
                status,
                bytes,
                gzip: false,
            });
        };
        let lines = LineSplitter::new(MAX_LINE_BYTES, on_line);
        // Content-Encoding, or the gzip magic of a `.gz` file.
        let gzip = encoded_gzip || first.starts_with(&[0x1f, 0x8b]);
        let mut sink = if gzip {
            Sink::Gzip(Box::new(flate2::write::MultiGzDecoder::new(lines)))
        } else {
            Sink::Plain(lines)
        };
        let mut chunk = Some(first);
        while let Some(data) = chunk {
            bytes += data.len() as u64;
            sink.write_all(&data)
                .map_err(|e| ReportError::Download(format!("bad gzip stream: {e}")))?;
            chunk = next_chunk().await?;
        }
        match sink {
            Sink::Plain(lines) => lines.finish(),
            Sink::Gzip(decoder) => decoder
                .finish()
                .map_err(|e| ReportError::Download(format!("bad gzip stream: {e}")))?
                .finish(),
        }
        Ok(Downloaded {
            status,
            bytes,
            gzip,
        })
    }
}

enum Sink<'f> {
    Plain(LineSplitter<'f>),
    Gzip(Box<flate2::write::MultiGzDecoder<LineSplitter<'f>>>),
}

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(s) => s.write(data),
            Sink::Gzip(s) => s.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_subdomains_only() {
        let a = HostAllowlist::new(&["*.github.com".into(), "default.exp-tas.com".into()]);
        assert!(a.allows("objects.github.com"));
        assert!(a.allows("a.b.GITHUB.com"));
        assert!(!a.allows("github.com"));
        assert!(!a.allows("evilgithub.com"));
        assert!(!a.allows("github.com.evil.net"));
        assert!(a.allows("default.exp-tas.com"));
        assert!(!a.allows("x.default.exp-tas.com"));
    }
}
