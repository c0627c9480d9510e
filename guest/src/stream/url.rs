//! The stream URL, and which redirects may be followed.
//!
//! Just enough of URLs for this client: absolute `http`/`https` URLs, the stream path appended
//! to a base URI, and relative `Location` values resolved against the request's URL (no
//! dot-segment removal: the server gets the path as written).

use alloc::format;
use alloc::string::String;

/// The path the auto-configuration stream lives at, under the stream URI.
pub const STREAM_PATH: &str = "/relay_auto_config";

/// An absolute `http(s)` URL, split at its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The whole URL, without a fragment.
    text: String,
    /// `http` or `https`, lower case.
    scheme: &'static str,
    /// Where the authority (`user@host:port`) ends in `text`.
    authority_end: usize,
    /// The host, lower case (brackets kept for IPv6).
    host: String,
    /// The port, explicit or the scheme's default.
    port: u16,
}

/// Why a URL was refused (used in messages as "… is not a valid stream URI: {reason}").
pub type Reason = &'static str;

impl Url {
    /// Parses an absolute `http://` or `https://` URL with a host. A fragment is dropped.
    pub fn parse(text: &str) -> Result<Url, Reason> {
        let text = text.split('#').next().unwrap_or("");
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("it contains spaces or control characters");
        }
        // HTTP stacks read `\` as `/` (the WHATWG URL rules), which would move the authority's
        // end: `http://evil:1\@good/` is `good` here but `evil:1` to them. Refuse it outright.
        if text.contains('\\') {
            return Err("it contains a backslash");
        }
        let (scheme, rest) = text.split_once("://").ok_or("it is not an absolute URL")?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else {
            return Err("the scheme must be http or https");
        };
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest.get(..authority_len).unwrap_or("");
        // The key is the only credential: `user:password@` would be sent as a second
        // `Authorization` header by the HTTP stack, and could leak into logs.
        if authority.contains('@') {
            return Err("it contains credentials (user:password@); the key is the only credential");
        }
        let host_port = authority;
        let (host, port) = split_port(host_port)?;
        if host.is_empty() || host == "[]" {
            return Err("it has no host");
        }
        if host.len() > 253 + 2 {
            return Err("the host name is too long");
        }
        check_host(host)?;
        let port = match port {
            Some(0) => return Err("port 0 cannot be connected to"),
            Some(p) => p,
            None if scheme == "https" => 443,
            None => 80,
        };
        Ok(Url {
            text: format!("{scheme}://{rest}"),
            scheme,
            authority_end: scheme.len() + 3 + authority_len,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The stream URL for a base URI: one trailing `/` of the path removed, [`STREAM_PATH`]
    /// appended to the path, the query kept, a fragment dropped.
    pub fn stream(base: &str) -> Result<Url, Reason> {
        let base = base.split('#').next().unwrap_or("");
        Url::parse(base)?;
        let (before, query) = match base.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (base, None),
        };
        let before = before.strip_suffix('/').unwrap_or(before);
        let text = match query {
            Some(q) => format!("{before}{STREAM_PATH}?{q}"),
            None => format!("{before}{STREAM_PATH}"),
        };
        Url::parse(&text)
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL for logs (it never holds credentials: [`Url::parse`] refuses them).
    pub fn redacted(&self) -> String {
        redact(&self.text)
    }

    /// Whether `other` has the same scheme, host and port: the key may be sent there.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// Resolves a `Location` header value against this URL.
    pub fn join(&self, location: &str) -> Result<Url, Reason> {
        let location = location.trim_matches([' ', '\t']);
        if location.is_empty() {
            return Err("the Location header is empty");
        }
        let has_scheme = location
            .find(':')
            .and_then(|colon| location.get(..colon))
            .is_some_and(|scheme| !scheme.is_empty() && !scheme.contains(['/', '?', '#']));
        if has_scheme {
            return Url::parse(location);
        }
        let origin = self.text.get(..self.authority_end).unwrap_or("");
        let text = if let Some(rest) = location.strip_prefix("//") {
            format!("{}://{rest}", self.scheme)
        } else if location.starts_with('/') {
            format!("{origin}{location}")
        } else if location.starts_with('?') {
            let path = self.text.split('?').next().unwrap_or("");
            format!("{path}{location}")
        } else {
            let path = self.text.split('?').next().unwrap_or("");
            let dir = path
                .get(self.authority_end..)
                .and_then(|p| p.rfind('/').map(|i| self.authority_end + i + 1))
                .and_then(|end| path.get(..end))
                .map_or_else(|| format!("{origin}/"), String::from);
            format!("{dir}{location}")
        };
        Url::parse(&text)
    }
}

/// Any text that may be a URL, for logs: a `user:password@` part of its authority becomes
/// `***@`, a query becomes `?…` (it may carry a token), and the result is cut at 200
/// characters.
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    // `scheme:` and any slashes after it (also a malformed `https:/` or none at all), so that
    // whatever follows up to the path is treated as an authority that may hold credentials.
    let scheme_end = text.find(':').filter(|&i| {
        i > 0
            && text
                .bytes()
                .take(i)
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let (head, rest) = match scheme_end {
        Some(i) => {
            let after = text.get(i + 1..).unwrap_or("");
            let slashes = after.len() - after.trim_start_matches('/').len();
            text.split_at(i + 1 + slashes)
        }
        // `//host/...`: an authority; `/path`: no authority at all.
        None if text.starts_with("//") => text.split_at(2),
        None if text.starts_with('/') => (text, ""),
        None => ("", text),
    };
    out.push_str(head);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str("***");
            out.push_str(authority.get(at..).unwrap_or(""));
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, _)) => {
            out.push_str(path);
            out.push_str("?…");
        }
        None => out.push_str(tail),
    }
    if let Some((cut, _)) = out.char_indices().nth(200) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Refuses hosts no HTTP stack can connect to: a name must be ASCII letters, digits, `-` and
/// `.` (an internationalized name must be given in its `xn--` form), and an IPv6 literal must be
/// in brackets, hex digits, `:` and `.` only (no zone: it names a local interface).
fn check_host(host: &str) -> Result<(), Reason> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ok = inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        return if ok {
            Ok(())
        } else {
            Err("the IPv6 address is malformed (zones are not supported)")
        };
    }
    if host.contains(':') {
        return Err("an IPv6 address must be in brackets, as in http://[::1]:8030");
    }
    if !host.is_ascii() {
        return Err("the host name is not ASCII: give an internationalized name in its xn-- form");
    }
    let labels_ok = host.split('.').enumerate().all(|(i, label)| {
        // One trailing dot (a fully qualified name) is allowed.
        (label.is_empty() && i > 0 && host.ends_with('.') && host.len() > 1)
            || (!label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    if labels_ok {
        Ok(())
    } else {
        Err("the host name is malformed (letters, digits, '-' and '.' only)")
    }
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_port(host_port: &str) -> Result<(&str, Option<u16>), Reason> {
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => {
                let (host, rest) = host_port.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if rest.is_empty() => (host, None),
                    None => return Err("the host is malformed"),
                }
            }
            None => return Err("the host is malformed"),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 5 => {
            Some(p.parse::<u16>().map_err(|_| "the port is out of range")?)
        }
        Some(_) => return Err("the port is not a number"),
    };
    Ok((host, port))
}
