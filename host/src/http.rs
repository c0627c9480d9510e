//! The HTTP side of the stream: the client (rustls, proxies from the environment, an extra CA
//! file, no cross-host redirects) and the request for `{stream-uri}/relay_auto_config`.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, HeaderMap, HeaderValue};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Client, Url};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("autoconfig-host/", env!("CARGO_PKG_VERSION"));

/// Why the HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The stream URI is not an absolute http(s) URL.
    #[error("invalid stream URI {uri:?}: {reason}")]
    StreamUri {
        /// The URI given.
        uri: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The key cannot be sent as a header value.
    #[error("the auto-configuration key contains characters not allowed in an HTTP header")]
    KeyFormat,
    /// The CA file could not be read or parsed.
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// `{stream_uri}/relay_auto_config`, with one trailing `/` of the URI removed.
pub fn stream_url(stream_uri: &str) -> Result<Url, HttpError> {
    let base = stream_uri.strip_suffix('/').unwrap_or(stream_uri);
    let url =
        Url::parse(&format!("{base}/relay_auto_config")).map_err(|e| HttpError::StreamUri {
            uri: stream_uri.to_owned(),
            reason: e.to_string(),
        })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(HttpError::StreamUri {
            uri: stream_uri.to_owned(),
            reason: "it must be an http:// or https:// URL with a host".into(),
        });
    }
    Ok(url)
}

/// The headers of every request except `Last-Event-ID`. The key is marked sensitive, so
/// reqwest never prints it.
pub fn base_headers(key: &str) -> Result<HeaderMap, HttpError> {
    let mut auth = HeaderValue::from_str(key).map_err(|_| HttpError::KeyFormat)?;
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(headers)
}

/// Builds the client: rustls (ring), proxies from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`, an
/// optional extra CA bundle, a connect timeout, and redirects followed only on the same host.
pub fn client(ca_file: Option<&PathBuf>, connect_timeout: Duration) -> Result<Client, HttpError> {
    // reqwest is built without a default crypto provider; ring is the one linked in. Installing
    // twice (a second client in the same process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
        .redirect(Policy::custom(same_host_only));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| HttpError::CaFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpError::CaFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if certs.is_empty() {
            return Err(HttpError::CaFile {
                path: path.clone(),
                reason: "no PEM certificate in it".into(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))
}

/// Follows at most 10 redirects, and only to the same scheme, host and port: the key is never
/// sent anywhere else. A refused redirect comes back as the 3xx response itself.
fn same_host_only(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let Some(first) = attempt.previous().first() else {
        return attempt.stop();
    };
    let next = attempt.url();
    let same_origin = next.scheme() == first.scheme()
        && next.host_str() == first.host_str()
        && next.port_or_known_default() == first.port_or_known_default();
    if same_origin && attempt.previous().len() <= 10 {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_strips_one_trailing_slash() {
        let u = |s: &str| stream_url(s).map(|u| u.to_string());
        assert_eq!(
            u("https://stream.launchdarkly.com").ok().as_deref(),
            Some("https://stream.launchdarkly.com/relay_auto_config")
        );
        assert_eq!(
            u("https://stream.launchdarkly.com/").ok().as_deref(),
            Some("https://stream.launchdarkly.com/relay_auto_config")
        );
        assert_eq!(
            u("http://127.0.0.1:8030/base/").ok().as_deref(),
            Some("http://127.0.0.1:8030/base/relay_auto_config")
        );
        assert!(u("ftp://x").is_err());
        assert!(u("not a url").is_err());
    }

    #[test]
    fn key_header_is_sensitive() {
        let h = base_headers("rel-abc").expect("valid");
        assert!(h[AUTHORIZATION].is_sensitive());
        assert_eq!(h[AUTHORIZATION], "rel-abc");
        assert_eq!(h[ACCEPT], "text/event-stream");
        assert_eq!(h[CACHE_CONTROL], "no-cache");
        assert!(matches!(
            base_headers("bad\nkey"),
            Err(HttpError::KeyFormat)
        ));
    }
}
