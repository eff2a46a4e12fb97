//! A tiny HTTP/1.1 server on 127.0.0.1 for tests and the demo: `/hello`
//! answers `hi`, `/echo` answers the method and body it got, `/slow` waits
//! `ms` (query `?ms=N`, default 500) first, `/json` answers a JSON object.
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Starts the server on an ephemeral loopback port; returns its base URL.
pub async fn start() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut first = head.lines().next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_owned();
                let target = first.next().unwrap_or("/").to_owned();
                let body = buf[head_end..].to_vec();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let (status, ctype, out): (u16, &str, Vec<u8>) = match path {
                    "/hello" => (200, "text/plain", b"hi".to_vec()),
                    "/echo" => {
                        let mut v = format!("{method} ").into_bytes();
                        v.extend_from_slice(&body);
                        (200, "text/plain", v)
                    }
                    "/json" => (
                        200,
                        "application/json",
                        br#"{"ok":true,"items":[1,2,3]}"#.to_vec(),
                    ),
                    "/slow" => {
                        let ms = query
                            .strip_prefix("ms=")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(500);
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        (200, "text/plain", b"late".to_vec())
                    }
                    _ => (404, "text/plain", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-test: yes\r\nconnection: close\r\n\r\n",
                    out.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}
