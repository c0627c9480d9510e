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
    /// The CA file could not be read.
    #[error("cannot read the CA file {}", path.display())]
    CaFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not a PEM bundle.
    #[error("cannot parse the CA file {} as PEM certificates", path.display())]
    CaFileParse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The CA file holds no certificate.
    #[error("the CA file {} holds no PEM certificate", path.display())]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
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
        let pem = std::fs::read(path).map_err(|source| HttpError::CaFileRead {
            path: path.clone(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
            HttpError::CaFileParse {
                path: path.clone(),
                source,
            }
        })?;
        if certs.is_empty() {
            return Err(HttpError::CaFileEmpty { path: path.clone() });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(HttpError::Client)
}

/// Refuses a proxy variable (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, in either case) that is
/// set but not a URL: the HTTP client would ignore it silently and connect directly, bypassing
/// a proxy the network may require. The message names the variable, never its value (it may
/// hold credentials).
pub fn check_proxy_environment() -> Result<(), String> {
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        let Some(value) = value.to_str() else {
            return Err(format!("{name} is not valid UTF-8"));
        };
        if value.trim().is_empty() {
            continue;
        }
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        let valid = !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && reqwest::Url::parse(&with_scheme).ok().is_some_and(|url| {
                url.host_str().is_some_and(|h| !h.is_empty())
                    && matches!(url.path(), "" | "/")
                    && url.query().is_none()
            })
            && reqwest::Proxy::all(value).is_ok();
        if !valid {
            return Err(format!(
                "{name} is set but is not a proxy URL (like http://proxy.example:3128); fix or unset it"
            ));
        }
    }
    Ok(())
}
