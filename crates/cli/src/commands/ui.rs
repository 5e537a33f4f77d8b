//! `updraft ui`: the dashboard over the selected backend until Ctrl-C.
//! `updraft dev` serves it too, beside its loop.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use updraft_engine::Engine;
use updraft_ui::Ui;
use updraft_ui::serve::{AllowedHosts, Limits};

use super::Context;
use crate::error::{CliError, CliResult};
use crate::signals::shutdown_signal;

/// Where and how the dashboard is served.
pub struct Serving {
    pub addr: SocketAddr,
    /// Host names answered besides the address.
    pub allowed_hosts: Vec<String>,
    pub read_only: bool,
    /// Environment values shown, not only names.
    pub show_env: bool,
    pub open: bool,
}

impl Serving {
    /// What `updraft dev --ui-port PORT` serves.
    pub fn local(port: u16) -> Serving {
        Serving {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            allowed_hosts: Vec::new(),
            read_only: false,
            // Your own loop's dashboard, on loopback.
            show_env: true,
            open: false,
        }
    }
}

pub async fn ui(ctx: &Context, serving: Serving) -> CliResult<ExitCode> {
    let engine = ctx.engine().await?;
    let served = start(ctx, engine, &serving, "--port").await?;
    served.await?;
    println!("updraft ui: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Binds, says where the dashboard is, and gives the future that serves it
/// until Ctrl-C; `flag` is the option that chose the port.
pub async fn start(
    ctx: &Context,
    engine: Arc<Engine>,
    serving: &Serving,
    flag: &str,
) -> CliResult<impl Future<Output = CliResult<()>> + use<>> {
    let listener = updraft_ui::serve::bind(serving.addr)
        .await
        .map_err(|e| CliError::User(format!("{e}; pick another {flag}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Infra(format!("reading the listening address: {e}")))?;
    let acts = !serving.read_only;
    if !addr.ip().is_loopback() {
        eprintln!(
            "updraft ui: warning: listening on {addr}, not only this machine: anyone who can reach it sees every run{}; the dashboard has no login",
            if acts { " and can change them" } else { "" }
        );
    }
    let url = format!("http://{}/", browsable(addr));
    println!(
        "updraft ui: {url} ({} backend{}); Ctrl-C to stop",
        match ctx.global.backend {
            crate::args::Backend::Local => "local",
            crate::args::Backend::Aws => "AWS",
        },
        if acts { "" } else { ", read-only" }
    );
    if serving.open {
        open_browser(&url);
    }
    // Local events link here; on AWS the stack's UPDRAFT_UI_URL says where
    // the team's dashboard is.
    if ctx.global.backend == crate::args::Backend::Local {
        engine.set_ui_url(Some(url.trim_end_matches('/').to_string()));
    }
    let ui = Arc::new(
        Ui::new(engine, serving.read_only)
            .showing_env(serving.show_env)
            .acting_as(&ctx.caller().await?),
    );
    let limits = Limits {
        hosts: AllowedHosts::new(serving.allowed_hosts.iter().cloned()),
        ..Limits::default()
    };
    Ok(async move {
        updraft_ui::serve::serve(ui, listener, limits, shutdown_signal())
            .await
            .map_err(|e| CliError::Infra(format!("serving the dashboard on {addr}: {e}")))
    })
}

/// An address a browser can open: a wildcard bind is reached through
/// loopback.
fn browsable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        _ => addr,
    }
}

/// Asks the desktop to open `url`; a machine without one gets a warning.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        eprintln!("updraft ui: warning: could not open a browser ({opener}: {e}); open {url}");
    }
}
