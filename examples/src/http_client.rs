//! HTTP requests with reqwest (rustls, no system OpenSSL). Each request is
//! a command handled on the runtime's tokio pool; the process waits.
//!
//! The permission `http_client.request` is checked on the URL as it will be
//! used, not as written: parsed, with the user info and fragment dropped,
//! the host normalized (case, IPv4 written in any form, IPv6 brackets, a
//! trailing dot) and the port always explicit, e.g.
//! `http://127.0.0.1:8080/path?q`. So a policy `http://127.0.0.1:*` is not
//! passed by `http://127.0.0.1:1@127.0.0.2:8080/` (user info) or
//! `http://2130706434/` (127.0.0.2 as one number); an IPv4-mapped IPv6
//! address is its IPv4 address, and the unspecified addresses (`0.0.0.0`,
//! `[::]`) are refused, as is a path with a slash or backslash written as
//! `%2f` or `%5c` (which a server may decode, then resolve `..` around). Redirects are followed by hand, at most
//! [`MAX_REDIRECTS`], each hop checked the same way; a script cannot set
//! the `Host` header. Write policies as allow-lists ending in `/*` with an
//! explicit port (`http://api.example.com:443/*`): a deny-list on hosts
//! cannot name every address or DNS name that reaches a host.

pub use self::http_client::{
    DEFAULT_BODY_LIMIT, HttpConfig, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REDIRECTS, MODULE, resource,
};

/// HTTP client. Every request checks the permission `http_client.request`
/// with the URL as resource.
#[luamod::module(name = "http_client", class(network, io), state = HttpConfig)]
#[allow(clippy::module_inception)]
pub mod http_client {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::time::Duration;

    use luamod::prelude::*;
    use luamod::runtime::HandlerCx;
    use reqwest::Url;

    /// The most redirects one request follows.
    pub const MAX_REDIRECTS: usize = 10;

    /// The most headers one request sets.
    pub const MAX_HEADERS: usize = 256;

    /// The most bytes of header names and values one request sets (servers
    /// refuse far less; a request holds them, copied twice more, until it
    /// ends, for as long as its timeout allows).
    pub const MAX_HEADER_BYTES: usize = 64 << 10;

    /// The resource a URL's permission is checked on: scheme, normalized
    /// host, explicit port, path and query (no user info, no fragment).
    /// Only `http` and `https` URLs with a host are accepted.
    pub fn resource(url: &Url) -> Result<String, LuaError> {
        let bad = |why: &str| {
            LuaError::new(ErrorKind::Invalid, format!("invalid URL '{url}': {why}"))
                .with_retryable(false)
        };
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad("only http and https URLs are allowed"));
        }
        let ip = |a: std::net::IpAddr| {
            // 0.0.0.0 and [::] reach this machine, under no name a policy
            // would list.
            if a.is_unspecified() {
                Err(bad("the unspecified address is not a destination"))
            } else {
                Ok(a)
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase(),
            Some(url::Host::Ipv4(a)) => ip(a.into())?.to_string(),
            // An IPv4-mapped IPv6 address is the IPv4 host it maps.
            Some(url::Host::Ipv6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => ip(v4.into())?.to_string(),
                None => format!("[{}]", ip(a.into())?),
            },
            None => return Err(bad("no host")),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = url.port_or_known_default().ok_or_else(|| bad("no port"))?;
        // `..` is resolved by the parser, but a slash or backslash written
        // as `%2f` or `%5c` is not: many servers decode it and then
        // resolve `..` themselves, so `/public/..%2fsecret` passes a
        // policy on `/public/*` and serves `/secret`.
        let path = url.path();
        let lower = path.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err(bad(
                "a slash or backslash written as %2f or %5c in the path: servers disagree on \
                 what it names",
            ));
        }
        let mut out = format!("{}://{host}:{port}{path}", url.scheme());
        if let Some(q) = url.query() {
            out.push('?');
            out.push_str(q);
        }
        Ok(out)
    }

    fn parse(text: &str) -> Result<Url, LuaError> {
        Url::parse(text).map_err(|e| {
            LuaError::new(ErrorKind::Invalid, format!("invalid URL '{text}': {e}"))
                .with_retryable(false)
        })
    }

    /// Checks the permission on where `url` really goes.
    fn check(cx: &HandlerCx, url: &Url) -> Result<(), LuaError> {
        cx.context().check("http_client.request", resource(url)?)
    }

    /// The default body limit: 16 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 16 << 20;

    /// How a runtime's `http_client` behaves (`let mut cfg =
    /// HttpConfig::new(); cfg.body_limit = ...;`, then
    /// `Builder::module_with(&http_client::MODULE, cfg)`).
    /// Its HTTP client is made from it, once per runtime, never following
    /// redirects by itself (the module does, checking each hop), and
    /// keeping no connection once its request is done: an idle pool shared
    /// by every process, one per host, let a script hold a socket and its
    /// buffers for each address it named (`127.x.y.z` gives 16 million),
    /// outside its memory limit and for 90 s after it ended. The cost:
    /// every request (and every redirect hop) opens a connection, with
    /// its TLS handshake, and leaves a socket in `TIME_WAIT` on the host;
    /// requests in a tight loop to one destination can use up the host's
    /// ephemeral ports for it (about 28,000 a minute on Linux).
    #[derive(Debug)]
    pub struct HttpConfig {
        /// The most bytes of response body a request reads; a longer body
        /// (announced or actual) is `nil, err` of kind
        /// `RESOURCE_EXHAUSTED`, and nothing more of it is read.
        pub body_limit: usize,
        /// The timeout of a request that gives none (`timeout_ms`).
        pub default_timeout: Duration,
        /// Sent as `User-Agent` unless the script sets one.
        pub user_agent: String,
        client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    }

    impl HttpConfig {
        /// The default configuration, to adjust field by field.
        pub fn new() -> Self {
            HttpConfig {
                body_limit: DEFAULT_BODY_LIMIT,
                default_timeout: Duration::from_secs(30),
                user_agent: "luamod-http_client".to_owned(),
                client: std::sync::OnceLock::new(),
            }
        }

        /// The runtime's client; a configuration it cannot be built from
        /// (a user agent with a newline) is an error, never a fallback to
        /// a default client (which would follow redirects unchecked).
        fn client(&self) -> Result<&reqwest::Client, LuaError> {
            self.client
                .get_or_init(|| {
                    reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .pool_max_idle_per_host(0)
                        .user_agent(self.user_agent.clone())
                        .build()
                        .map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|e| {
                    LuaError::new(
                        ErrorKind::Internal,
                        format!("the host's HTTP configuration is unusable: {e}"),
                    )
                })
        }
    }

    impl Default for HttpConfig {
        fn default() -> Self {
            HttpConfig::new()
        }
    }

    /// A request.
    #[derive(LuaRecord, Debug, Clone)]
    pub struct Request {
        /// `GET` (default), `POST`, `PUT`, `DELETE`, ...
        pub method: Option<String>,
        /// The URL (`http://` or `https://`).
        pub url: String,
        /// Request headers.
        pub headers: Option<BTreeMap<String, String>>,
        /// Request body.
        pub body: Option<Bytes>,
        /// Give up after this many milliseconds (default 30000).
        pub timeout_ms: Option<u64>,
    }

    /// The resource a request's permission is checked against: its URL.
    impl fmt::Display for Request {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.url)
        }
    }

    /// A response.
    #[derive(LuaRecord, Debug, Clone)]
    pub struct Response {
        /// The HTTP status code.
        pub status: u16,
        /// Response headers (lower-case names).
        pub headers: BTreeMap<String, String>,
        /// The body.
        pub body: Bytes,
    }

    fn failure(url: &str, e: reqwest::Error) -> LuaError {
        let (kind, retry) = if e.is_timeout() {
            (ErrorKind::Timeout, true)
        } else if e.is_connect() || e.is_request() {
            (ErrorKind::Unavailable, true)
        } else if e.is_builder() {
            (ErrorKind::Invalid, false)
        } else {
            (ErrorKind::Unavailable, true)
        };
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        LuaError::new(kind, msg)
            .with_retryable(retry)
            .with_detail("url", url)
    }

    async fn send(cx: &HandlerCx, cfg: &HttpConfig, req: Request) -> Result<Response, LuaError> {
        let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let mut method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            LuaError::new(
                ErrorKind::Invalid,
                format!("invalid HTTP method '{method}'"),
            )
        })?;
        let timeout = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(cfg.default_timeout);
        let mut url = parse(&req.url)?;
        let mut body = req.body.map(|b| b.0);
        let mut headers = req.headers.unwrap_or_default();
        // The `http` crate panics past 24,576 header names; no server takes
        // anywhere near that many.
        if headers.len() > MAX_HEADERS {
            return Err(LuaError::new(
                ErrorKind::Invalid,
                format!(
                    "too many headers: {} (at most {MAX_HEADERS})",
                    headers.len()
                ),
            )
            .with_retryable(false));
        }
        let header_bytes: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(LuaError::new(
                ErrorKind::Invalid,
                format!("headers too large: {header_bytes} bytes (at most {MAX_HEADER_BYTES})"),
            )
            .with_retryable(false));
        }
        // The host is the URL's, which the policy checked.
        if headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
            return Err(LuaError::new(
                ErrorKind::Invalid,
                "the Host header comes from the URL; it cannot be set",
            )
            .with_retryable(false));
        }
        let mut hops = 0;
        let resp = loop {
            check(cx, &url)?;
            let mut b = cfg
                .client()?
                .request(method.clone(), url.clone())
                .timeout(timeout);
            for (k, v) in &headers {
                b = b.header(k, v);
            }
            if let Some(body) = &body {
                b = b.body(body.clone());
            }
            let resp = b.send().await.map_err(|e| failure(url.as_str(), e))?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok());
            let (true, Some(location)) = (status.is_redirection(), location) else {
                break resp;
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(LuaError::new(
                    ErrorKind::Invalid,
                    format!("more than {MAX_REDIRECTS} redirects from '{}'", req.url),
                )
                .with_detail("url", url.as_str()));
            }
            let next = url.join(location).map_err(|e| {
                LuaError::new(
                    ErrorKind::Invalid,
                    format!("bad redirect from '{url}' to '{location}': {e}"),
                )
            })?;
            // 301/302/303 turn into GET without a body, as browsers do;
            // 307/308 repeat the request as it was.
            if matches!(status.as_u16(), 301..=303) && method != reqwest::Method::HEAD {
                method = reqwest::Method::GET;
                body = None;
            }
            // Credentials are for the origin they were given to.
            if next.origin() != url.origin() {
                headers.retain(|k, _| {
                    !["authorization", "proxy-authorization", "cookie"]
                        .iter()
                        .any(|h| k.eq_ignore_ascii_case(h))
                });
            }
            url = next;
        };
        let req_url = url.to_string();
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let limit = cfg.body_limit;
        let too_long = || {
            LuaError::new(
                ErrorKind::ResourceExhausted,
                format!("the response body is longer than the limit of {limit} bytes"),
            )
            .with_detail("url", req_url.as_str())
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_long());
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&req_url, e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body: Bytes(body),
        })
    }

    /// Sends a request and waits for the whole response. Timeouts and
    /// refused connections are `nil, err` (`TIMEOUT`, `UNAVAILABLE`,
    /// retryable).
    #[luamod::function(permission = "http_client.request", resource = req)]
    pub async fn request(
        cx: HandlerCx,
        cfg: &HttpConfig,
        req: Request,
    ) -> Result<Response, LuaError> {
        send(&cx, cfg, req).await
    }

    /// `GET url`.
    #[luamod::function(permission = "http_client.request", resource = url)]
    pub async fn get(
        cx: HandlerCx,
        cfg: &HttpConfig,
        url: String,
        timeout_ms: Option<u64>,
    ) -> Result<Response, LuaError> {
        send(
            &cx,
            cfg,
            Request {
                method: None,
                url,
                headers: None,
                body: None,
                timeout_ms,
            },
        )
        .await
    }
}
