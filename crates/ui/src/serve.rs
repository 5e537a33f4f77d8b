//! The listener: HTTP/1.1 on a TCP socket, translating to and from the
//! router's [`Request`] and [`Response`]. `updraft ui` and `updraft dev`
//! serve through it; nothing else in the crate knows of sockets.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::{Request, Response, Ui};

/// The largest request body read (a form is a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// What every answer carries: no script but the dashboard's own file, no
/// framing by another site, no guessing of content types, no caching.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// Serves `ui` on `listener` until `shutdown` resolves.
///
/// On a loopback address only requests naming a loopback host are
/// answered, so a web page that rebinds its own name to 127.0.0.1 cannot
/// read the dashboard (and its action token) from the user's browser.
pub async fn serve(
    ui: Arc<Ui>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, a connection reset before it was
                // taken: the listener itself is fine.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ui = ui.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let ui = ui.clone();
                async move { Ok::<_, Infallible>(answer(&ui, request, loopback).await) }
            });
            // A client that goes away mid-request ends only its connection.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `addr`, with a message that says why not.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => format!("{addr} is in use"),
        io::ErrorKind::PermissionDenied => {
            format!("{addr}: not permitted (ports below 1024 need privileges)")
        }
        _ => format!("cannot listen on {addr}: {e}"),
    })
}

async fn answer(
    ui: &Ui,
    request: hyper::Request<Incoming>,
    loopback: bool,
) -> hyper::Response<Full<Bytes>> {
    if loopback && !names_loopback(request.headers().get(header::HOST)) {
        return translate(Response::text(
            421,
            "this dashboard answers only requests for localhost or 127.0.0.1",
        ));
    }
    let method = request.method().as_str().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return translate(Response::text(413, "the request body is too large")),
    };
    let mut ours = Request::new(&method, &target);
    ours.form = crate::http::form_pairs(&String::from_utf8_lossy(&body));
    translate(ui.handle(&ours).await)
}

/// Whether a `Host` header names this machine's loopback interface.
fn names_loopback(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

fn translate(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::OK);
    let headers = out.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    if let Some(location) = response
        .location
        .and_then(|l| HeaderValue::from_str(&l).ok())
    {
        headers.insert(header::LOCATION, location);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_host_names_pass() {
        let pass = |h: &str| names_loopback(Some(&HeaderValue::from_str(h).unwrap()));
        assert!(pass("127.0.0.1:8080") && pass("localhost") && pass("[::1]:80"));
        assert!(!pass("evil.example:8080") && !pass("127.0.0.1.evil.example"));
        assert!(!names_loopback(None));
    }
}
