//! Trust for `https://` runtimes. By default the system's roots decide; a
//! runtime registered with a private CA (`ca_file`) is trusted only when its
//! certificate chains to that CA, for REST and WebSockets alike.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::transport::TransportError;

/// A client configuration that trusts only the certificates of `ca_pem`.
pub fn private_ca(ca_pem: &[u8]) -> Result<ClientConfig, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|_| TransportError::BadCa)?;
        roots.add(cert).map_err(|_| TransportError::BadCa)?;
    }
    if roots.is_empty() {
        return Err(TransportError::BadCa);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TransportError::Client)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
