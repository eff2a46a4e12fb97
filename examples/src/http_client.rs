//! HTTP requests with reqwest (rustls, no system OpenSSL). Each request is
//! a command handled on the runtime's tokio pool; the process waits.

pub use self::http_client::{DEFAULT_BODY_LIMIT, MODULE, set_body_limit};

/// HTTP client. Every request checks the permission `http_client.request`
/// with the URL as resource.
#[luamod::module(name = "http_client", class(network, io))]
#[allow(clippy::module_inception)]
pub mod http_client {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use luamod::prelude::*;

    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

    /// The default [`set_body_limit`]: 16 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 16 << 20;

    static BODY_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_BODY_LIMIT);

    /// The most bytes of response body a request reads (for the whole
    /// host). A longer body (announced or actual) is `nil, err` of kind
    /// `RESOURCE_EXHAUSTED`; nothing more of it is read.
    pub fn set_body_limit(bytes: usize) {
        BODY_LIMIT.store(bytes, Ordering::Relaxed);
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

    async fn send(req: Request) -> Result<Response, LuaError> {
        let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            LuaError::new(
                ErrorKind::Invalid,
                format!("invalid HTTP method '{method}'"),
            )
        })?;
        let mut b = CLIENT
            .request(method, &req.url)
            .timeout(Duration::from_millis(req.timeout_ms.unwrap_or(30_000)));
        for (k, v) in req.headers.iter().flatten() {
            b = b.header(k, v);
        }
        if let Some(body) = req.body {
            b = b.body(body.0);
        }
        let resp = b.send().await.map_err(|e| failure(&req.url, e))?;
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
        let limit = BODY_LIMIT.load(Ordering::Relaxed);
        let too_long = || {
            LuaError::new(
                ErrorKind::ResourceExhausted,
                format!("the response body is longer than the limit of {limit} bytes"),
            )
            .with_detail("url", req.url.as_str())
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_long());
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&req.url, e))? {
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
    pub async fn request(req: Request) -> Result<Response, LuaError> {
        send(req).await
    }

    /// `GET url`.
    #[luamod::function(permission = "http_client.request", resource = url)]
    pub async fn get(url: String, timeout_ms: Option<u64>) -> Result<Response, LuaError> {
        send(Request {
            method: None,
            url,
            headers: None,
            body: None,
            timeout_ms,
        })
        .await
    }
}
