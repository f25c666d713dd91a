//! How both servers set up each TCP connection they accept.
//!
//! - No Nagle delay: a token must not wait for an ACK.
//! - Little unsent data in the kernel (`TCP_NOTSENT_LOWAT`, Linux). An event
//!   socket's frames are queued behind each other, and so is the reply to a
//!   client's Close. Left alone, the kernel grows a connection's send buffer
//!   to megabytes (about 4 MiB at once on loopback), and a socket replaying a
//!   cursor behind a fast stream fills it within milliseconds: a client that
//!   reads and discards frames until its Close is answered (Python's
//!   `websocket-client` does, for up to 3 s) then parses all of them first
//!   and gives up (issue 21). With the low-water mark the socket takes a new
//!   write only while less than [`UNSENT_LOWAT`] of it is still unsent, so
//!   what waits ahead of a Close is what the client's own window took plus
//!   a few KiB. Data in flight is still bounded by the window alone, so a
//!   client on a long, fast link reads as fast as before.

use tokio::net::TcpStream;

/// Unsent bytes the kernel may hold for one connection before a write waits.
pub const UNSENT_LOWAT: u32 = 16 * 1024;

/// Sets up an accepted connection as the module says. Each option is best
/// effort: a socket that refuses one is served anyway.
pub fn tune(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    bound_unsent(tcp);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bound_unsent(tcp: &TcpStream) {
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(UNSENT_LOWAT) {
        tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
    }
}

/// Elsewhere the kernel's own send buffer applies.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bound_unsent(_tcp: &TcpStream) {}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_accepted_connection_holds_little_unsent_data_and_no_nagle_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (tcp, _) = accepted.unwrap();
        tune(&tcp);
        let sock = socket2::SockRef::from(&tcp);
        assert_eq!(sock.tcp_notsent_lowat().unwrap(), UNSENT_LOWAT);
        assert!(tcp.nodelay().unwrap());
    }
}
