//! Sign-in logic for Cognito's CUSTOM_AUTH flow with a one-time code sent by email.
//!
//! Every function here is pure: it maps a trigger event (plus the clock, for a new code the
//! code itself, and what the limits table answered) to a response. Randomness, the clock,
//! SES and DynamoDB are supplied by the binaries in `src/bin`, so the whole decision logic
//! is tested on JSON fixtures.

pub mod challenge;
pub mod code;
pub mod config;
pub mod create;
pub mod deadline;
pub mod define;
pub mod email;
pub mod error;
pub mod limits;
pub mod sign_up;
pub mod telemetry;
pub mod template;
pub mod verify;

pub use error::TriggerError;

/// The only challenge this stack ever presents.
pub const CUSTOM_CHALLENGE: &str = "CUSTOM_CHALLENGE";

/// The roots AWS's service endpoints chain to (Amazon Root CA 1 to 4, and the Starfield
/// Services root that cross-signs them), as PEM: the triggers' TLS trusts these alone.
pub const AWS_ROOT_CERTIFICATES: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// Seconds since the Unix epoch; a clock before 1970 reads as 0, which expires every code.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_compiled_in_roots_are_five_parsable_certificates() {
        let certificates: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(super::AWS_ROOT_CERTIFICATES)
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(certificates.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        assert_eq!(roots.add_parsable_certificates(certificates), (5, 0));
    }
}
