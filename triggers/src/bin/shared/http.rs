//! The HTTP client every SDK client of a trigger uses: TLS trusting only the roots AWS's
//! service endpoints chain to (Amazon Trust Services, and Starfield's root that cross-signs
//! them), compiled in. The SDK's default reads and parses the system's whole certificate
//! bundle in every new process, a few milliseconds of each cold start spent on roots AWS's
//! endpoints never use; a narrower trust store is also a stricter one.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};

/// The SDK's defaults with that client. In the China regions, whose endpoints this trust
/// store was not checked against, the SDK's own client (the system's roots) stays.
pub fn sdk_defaults() -> ConfigLoader {
    let defaults = aws_config::defaults(BehaviorVersion::latest());
    if std::env::var("AWS_REGION").is_ok_and(|region| region.starts_with("cn-")) {
        return defaults;
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(triggers::AWS_ROOT_CERTIFICATES))
        .build()
        .expect("a trust store of PEM certificates builds");
    defaults.http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https(),
    )
}
