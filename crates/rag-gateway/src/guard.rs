//! The gateway answers this machine only, by name as well as by address.
//!
//! Listening on loopback keeps other machines out, but not web pages: a page
//! on any site can make the browser send requests to `localhost`, and with
//! DNS rebinding (its own host name re-pointed at 127.0.0.1) even read the
//! answers, `/dev/token` included. Such requests carry the page's host name
//! in `Host` (and its origin in a WebSocket's `Origin`), so every request
//! must name a loopback host, and a WebSocket opened by a page must come from
//! a loopback origin. The Management API (`/@connections`) is for the
//! gateway's own notifier: it takes loopback peers only, whatever they name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::events::error;
use crate::routes::AppState;

/// Whether `host` (a `Host` value: a name or address, maybe with a port)
/// names this machine's loopback interface, or `bound`, the address the
/// gateway listens on when it was told to listen on a specific one.
pub(crate) fn is_local_host(host: &str, bound: SocketAddr) -> bool {
    let name = strip_port(host.trim());
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || (!bound.ip().is_unspecified() && ip == bound.ip()),
        Err(_) => false,
    }
}

/// Whether an `Origin` (`scheme://host[:port]`, or `null`) is a page served
/// from this machine.
pub(crate) fn is_local_origin(origin: &str, bound: SocketAddr) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| is_local_host(authority, bound))
}

/// `host:port` → `host`; `[::1]:8787` → `[::1]`; a bare IPv6 address stays.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, "")) => host,
            Some((address, port))
                if port
                    .strip_prefix(':')
                    .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) =>
            {
                &host[..address.len() + 2]
            }
            _ => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Middleware: refuses (`403`) a request whose `Host` is not local, and a
/// WebSocket handshake whose `Origin` is not.
pub(crate) async fn local_only(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refused) = refusal_of_headers(request.headers(), state.bound) {
        return refused;
    }
    next.run(request).await
}

/// The refusal of a request whose `Host` or WebSocket `Origin` is not
/// local; `None` for a local one.
fn refusal_of_headers(headers: &HeaderMap, bound: SocketAddr) -> Option<Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_local_host(host, bound) {
        tracing::warn!(host, "request naming another host refused (DNS rebinding?)");
        return Some(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the local gateway answers requests for localhost only",
        ));
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let (true, Some(origin)) = (upgrade, origin) {
        if !is_local_origin(origin, bound) {
            tracing::warn!(origin, "WebSocket from a page of another site refused");
            return Some(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "WebSocket connections are accepted from local pages only",
            ));
        }
    }
    None
}

/// The refusal (`403`) of a peer that is not on this machine; `None` for
/// a local one.
pub(crate) fn refusal_of_peer(peer: &ConnectInfo<SocketAddr>) -> Option<Response> {
    if peer.0.ip().is_loopback() {
        return None;
    }
    tracing::warn!(peer = %peer.0, "management call from another machine refused");
    Some(error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "the management API takes calls from this machine only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_pass_and_others_do_not() {
        let loopback: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        for host in [
            "localhost",
            "localhost:8787",
            "LOCALHOST.",
            "app.localhost:5173",
            "127.0.0.1:8787",
            "127.1.2.3",
            "[::1]:8787",
            "[::1]",
        ] {
            assert!(is_local_host(host, loopback), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8787",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.5:8787",
            "[::1]x",
        ] {
            assert!(!is_local_host(host, loopback), "{host}");
        }
        let lan: SocketAddr = "10.0.0.5:8787".parse().unwrap();
        assert!(is_local_host("10.0.0.5:8787", lan));
        let any: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        assert!(!is_local_host("0.0.0.0:8787", any));
    }

    #[test]
    fn origins_are_judged_by_their_host() {
        let bound: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        assert!(is_local_origin("http://localhost:5173", bound));
        assert!(is_local_origin("https://127.0.0.1", bound));
        assert!(!is_local_origin("https://evil.example", bound));
        assert!(!is_local_origin("null", bound));
    }
}
