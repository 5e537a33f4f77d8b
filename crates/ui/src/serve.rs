//! The listener: HTTP/1.1 on a TCP socket, translating to and from the
//! router's [`Request`] and [`Response`]. `updraft ui` and `updraft dev`
//! serve through it; nothing else in the crate knows of sockets.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
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

/// The `Host` names the dashboard answers besides its own address, so a
/// web page that rebinds its own name to the dashboard's address cannot
/// read a page (or the action token) through the user's browser.
///
/// A request is answered when its `Host` is the address its connection
/// arrived on, one of these names, or — on a connection that arrived on
/// loopback — `localhost`, `127.0.0.1` or `::1`; whatever the bind.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// Answers `names` (without a port) as well.
    pub fn new(names: impl IntoIterator<Item = String>) -> AllowedHosts {
        AllowedHosts(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
    }

    /// Whether a request with `host` that arrived on `arrived_on` is
    /// answered.
    pub fn admit(&self, host: Option<&HeaderValue>, arrived_on: IpAddr) -> bool {
        let Some(host) = host.and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        }
        .to_ascii_lowercase();
        let arrived_on = canonical(arrived_on);
        if let Ok(ip) = name.parse::<IpAddr>() {
            let ip = canonical(ip);
            return ip == arrived_on || (ip.is_loopback() && arrived_on.is_loopback());
        }
        if arrived_on.is_loopback() && name == "localhost" {
            return true;
        }
        self.0.contains(&name)
    }

    fn refusal(&self) -> String {
        let mut names = vec!["the address it listens on".to_string()];
        names.extend(self.0.iter().map(|n| format!("`{n}`")));
        format!(
            "this dashboard answers only requests for {}, and localhost on this machine; start it with --allowed-host NAME to answer another name",
            names.join(", ")
        )
    }
}

/// An IPv4 address mapped into IPv6 as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What one listener answers, and how long and how many it waits for.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The `Host` names answered.
    pub hosts: AllowedHosts,
    /// Connections open at once; one more is closed as it is accepted.
    pub max_connections: usize,
    /// How long a request's headers, then its body, may take to arrive.
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hosts: AllowedHosts::default(),
            max_connections: 256,
            read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `ui` on `listener` until `shutdown` resolves, within `limits`.
pub async fn serve(
    ui: Arc<Ui>,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let hosts = Arc::new(limits.hosts);
    let read_timeout = limits.read_timeout;
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
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
        let Ok(arrived_on) = stream.local_addr().map(|a| a.ip()) else {
            continue;
        };
        // Past the cap the connection is closed at once: slow clients
        // cannot hold more than that many sockets and tasks.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            continue;
        };
        let (ui, hosts) = (ui.clone(), hosts.clone());
        tokio::spawn(async move {
            let _open = permit;
            let service = service_fn(move |request| {
                let (ui, hosts) = (ui.clone(), hosts.clone());
                async move {
                    let answered =
                        match hosts.admit(request.headers().get(header::HOST), arrived_on) {
                            true => answer(&ui, request, read_timeout).await,
                            false => translate(Response::text(421, &hosts.refusal())),
                        };
                    Ok::<_, Infallible>(answered)
                }
            });
            // A client that goes away mid-request ends only its connection.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
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
    read_timeout: Duration,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY).collect();
    let body = match tokio::time::timeout(read_timeout, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(_)) => return translate(Response::text(413, "the request body is too large")),
        Err(_) => {
            return translate(Response::text(
                408,
                "the request body did not arrive in time",
            ));
        }
    };
    let ours = Request::from_http(&parts, &body);
    translate(ui.handle(&ours).await)
}

fn translate(response: Response) -> hyper::Response<Full<Bytes>> {
    response
        .into_http()
        .map(|body| Full::new(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_answered_for_the_address_it_arrived_on_and_the_names_allowed() {
        let hosts = AllowedHosts::new(["Dash.Example".to_string()]);
        let admit = |h: &str, on: &str| {
            hosts.admit(
                Some(&HeaderValue::from_str(h).unwrap()),
                on.parse().unwrap(),
            )
        };
        let loopback = "127.0.0.1";
        assert!(admit("127.0.0.1:8080", loopback) && admit("localhost", loopback));
        assert!(admit("[::1]:80", "::1") && admit("LOCALHOST:1", "::1"));
        assert!(admit("dash.example:8080", loopback) && admit("dash.example", "10.0.0.5"));
        assert!(admit("10.0.0.5:8080", "10.0.0.5") && admit("10.0.0.5", "::ffff:10.0.0.5"));
        // A rebound name, on a loopback or any other bind.
        for on in [loopback, "10.0.0.5"] {
            assert!(!admit("evil.example:8080", on) && !admit("127.0.0.1.evil.example", on));
        }
        // Loopback names only where the connection arrived on loopback.
        assert!(!admit("localhost:8080", "10.0.0.5") && !admit("127.0.0.1", "10.0.0.5"));
        assert!(!admit("10.0.0.6", "10.0.0.5"));
        assert!(!hosts.admit(None, loopback.parse().unwrap()));
    }
}
