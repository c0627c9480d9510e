//! The HTTP client of the stream: rustls, proxies from the environment, an extra CA file, and no
//! redirects of its own (the component decides which to follow). The URL and headers of each
//! request come from the component.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Client;
use reqwest::redirect::Policy;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("autoconfig-host/", env!("CARGO_PKG_VERSION"));

/// Why the HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
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

/// Builds the client: rustls (ring), proxies from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`, an
/// optional extra CA bundle, a connect timeout, and no redirects followed.
pub fn client(ca_file: Option<&PathBuf>, connect_timeout: Duration) -> Result<Client, HttpError> {
    // reqwest is built without a default crypto provider; ring is the one linked in. Installing
    // twice (a second client in the same process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
        .redirect(Policy::none());
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
