//! `login`: the backend side of the sign-in as a CLI, and the ID token check against the
//! pool's JWKS. Tokens are verified, then only their claims are printed.

use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::error::SdkError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{
    InitiateAuthError, InitiateAuthOutput,
};
use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::{
    RespondToAuthChallengeError, RespondToAuthChallengeOutput,
};
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};

use crate::error::{ProvisionError, aws_error, ok_if_already_done};
use crate::mailbox;
use crate::session::{Outputs, Session};

/// Where the code comes from.
pub enum CodeSource<'a> {
    /// Asked of the person signing in, through the caller's `ask`.
    Person(&'a mut dyn FnMut(Ask<'_>) -> Result<String, ProvisionError>),
    /// Read from the local emulator's outbox.
    Mailbox { endpoint: String },
}

/// Why a code is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// A code was sent to this masked address.
    CodeSent(&'a str),
    /// The last code was wrong; the session allows another try.
    TryAgain,
}

/// What a finished sign-in yields. `Debug` leaves the tokens out.
pub struct SignedIn {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub claims: serde_json::Value,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

pub async fn sign_in(
    session: &Session,
    email: &str,
    mut source: CodeSource<'_>,
) -> Result<SignedIn, ProvisionError> {
    let outputs = session.outputs()?;
    let cognito = &session.clients.cognito;
    let resource = format!("sign-in of {email}");
    // Messages already in the outbox are not this sign-in's.
    let seen = match &source {
        CodeSource::Mailbox { endpoint } => {
            message_ids(endpoint, &session.observation.names.account)?
        }
        CodeSource::Person(_) => Vec::new(),
    };
    let started = start_custom_auth(cognito, &outputs, email)
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:InitiateAuth", e))?;
    let mut challenge_session = started.session;
    let mut parameters = started.challenge_parameters.unwrap_or_default();
    let mut retry = false;
    loop {
        // A refused mailbox code ends the loop below, so the outbox is read once.
        let answer = match &mut source {
            CodeSource::Mailbox { endpoint } => {
                wait_for_code(endpoint, &session.observation.names.account, email, &seen)?
            }
            CodeSource::Person(ask) => {
                let destination = parameters
                    .get(triggers::create::PUBLIC_DESTINATION)
                    .map_or("your inbox", String::as_str);
                ask(if retry {
                    Ask::TryAgain
                } else {
                    Ask::CodeSent(destination)
                })?
            }
        };
        let responded =
            answer_challenge(cognito, &outputs, challenge_session.clone(), email, answer).await;
        let responded = match responded {
            Ok(r) => r,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_authorized_exception()) =>
            {
                return Err(ProvisionError::state(
                    resource,
                    "sign-in failed: wrong code too many times, or the code expired; start again",
                ));
            }
            Err(e) => {
                return Err(aws_error(
                    &resource,
                    "cognito-idp:RespondToAuthChallenge",
                    e,
                ));
            }
        };
        if let Some(result) = responded.authentication_result {
            let id_token = result.id_token.unwrap_or_default();
            let claims = verify_id_token(&outputs, &id_token)?;
            return Ok(SignedIn {
                id_token,
                access_token: result.access_token.unwrap_or_default(),
                refresh_token: result.refresh_token,
                claims,
            });
        }
        challenge_session = responded.session;
        parameters = responded.challenge_parameters.unwrap_or_default();
        retry = true;
        if matches!(source, CodeSource::Mailbox { .. }) {
            return Err(ProvisionError::state(
                resource,
                "the code from the outbox was refused",
            ));
        }
    }
}

type CognitoError<E> = SdkError<E, aws_smithy_runtime_api::http::Response>;

/// Self sign-up with only an email address, as the README documents it for a client.
///
/// Cognito's SignUp insists on a password for a pool without Essentials-tier passwordless
/// sign-in, so the client sends a random one and forgets it: the app client allows no
/// password flow, so it can never be used. SignUp answers `UsernameExistsException` for
/// an address that has an account, even with user-existence errors prevented; this treats
/// that exactly as a new account, and the caller goes on to sign in either way (a code goes
/// to the address in both cases), so the outcome never tells whether the address existed.
pub async fn sign_up(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    outputs: &Outputs,
    email: &str,
) -> Result<(), ProvisionError> {
    let resource = format!("sign-up of {email}");
    // The pool takes email addresses as usernames, so Cognito sets `email` from the
    // username; the client sends no attributes (its WriteAttributes is `locale` only).
    let signed_up = cognito
        .sign_up()
        .client_id(&outputs.app_client_id)
        .username(email)
        .password(throwaway_password()?)
        .send()
        .await;
    ok_if_already_done(
        signed_up,
        |e| e.is_username_exists_exception(),
        resource,
        "cognito-idp:SignUp",
    )
}

/// 32 random bytes as base64, plus one character of each class a password policy may ask
/// for; never stored, never shown.
fn throwaway_password() -> Result<String, ProvisionError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(triggers::code::SALT_LEN) {
        let salt = triggers::code::random_salt().map_err(|_| {
            ProvisionError::state("sign-up", "the operating system's random source failed")
        })?;
        chunk.copy_from_slice(&salt[..chunk.len()]);
    }
    Ok(format!(
        "{}aA1!",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// InitiateAuth with CUSTOM_AUTH for `email` on the stack's app client.
pub async fn start_custom_auth(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    outputs: &Outputs,
    email: &str,
) -> Result<InitiateAuthOutput, CognitoError<InitiateAuthError>> {
    cognito
        .initiate_auth()
        .client_id(&outputs.app_client_id)
        .auth_flow(AuthFlowType::CustomAuth)
        .auth_parameters("USERNAME", email)
        .send()
        .await
}

/// RespondToAuthChallenge with `code` as the answer to the session's CUSTOM_CHALLENGE.
pub async fn answer_challenge(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    outputs: &Outputs,
    session: Option<String>,
    email: &str,
    code: impl Into<String>,
) -> Result<RespondToAuthChallengeOutput, CognitoError<RespondToAuthChallengeError>> {
    cognito
        .respond_to_auth_challenge()
        .client_id(&outputs.app_client_id)
        .challenge_name(ChallengeNameType::CustomChallenge)
        .set_session(session)
        .challenge_responses("USERNAME", email)
        .challenge_responses("ANSWER", code)
        .send()
        .await
}

fn message_ids(endpoint: &str, account: &str) -> Result<Vec<String>, ProvisionError> {
    let messages = mailbox::messages(endpoint, account)
        .map_err(|e| ProvisionError::state("emulator outbox", e.to_string()))?;
    Ok(messages.into_iter().map(|m| m.message_id).collect())
}

/// Polls the outbox for a new message to `email`, for up to ten seconds.
pub fn wait_for_code(
    endpoint: &str,
    account: &str,
    email: &str,
    seen: &[String],
) -> Result<String, ProvisionError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let messages = mailbox::messages(endpoint, account)
            .map_err(|e| ProvisionError::state("emulator outbox", e.to_string()))?;
        if let Some(code) = mailbox::newest_code(&messages, email, seen) {
            return Ok(code);
        }
        if Instant::now() > deadline {
            return Err(ProvisionError::state(
                "emulator outbox",
                format!(
                    "no sign-in email to {email} arrived within 10 s; is the emulator running with AWS_ENDPOINT_URL set (`cargo xtask emulator start` does that)?"
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks the ID token's RS256 signature against the pool's JWKS, its issuer, audience and
/// expiry, and returns its claims. Fetches the JWKS once for this check.
pub fn verify_id_token(
    outputs: &Outputs,
    token: &str,
) -> Result<serde_json::Value, ProvisionError> {
    let fail = |message: String| ProvisionError::state("id token", message);
    let jwks = fetch_jwks(&outputs.jwks_uri).map_err(fail)?;
    check_id_token(&jwks, &outputs.issuer, &outputs.app_client_id, token)
        .map_err(|problem| fail(problem.to_string()))
}

pub const JWKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The pool's signing keys, from its `jwks_uri`; an endpoint that does not answer within
/// [`JWKS_TIMEOUT`] counts as unreachable.
pub fn fetch_jwks(jwks_uri: &str) -> Result<jsonwebtoken::jwk::JwkSet, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(JWKS_TIMEOUT))
        .build()
        .into();
    agent
        .get(jwks_uri)
        .call()
        .map_err(|e| format!("cannot fetch the JWKS at {jwks_uri}: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| format!("the JWKS at {jwks_uri} is not valid: {e}"))
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("not a JWT: {0}")]
    Malformed(String),
    #[error("the token names no signing key (kid)")]
    NoKeyId,
    /// The JWKS has no key with this id: it may have rotated, so fetch it again.
    #[error("no key {0} in the pool's JWKS")]
    UnknownKey(String),
    #[error("unusable key {kid}: {error}")]
    UnusableKey { kid: String, error: String },
    #[error("signature or claims did not verify: {0}")]
    Invalid(String),
    #[error("the token is not an ID token")]
    NotAnIdToken,
}

/// The pure half of [`verify_id_token`]: RS256 against `jwks`, the pool's issuer, the app
/// client as audience, not expired, `token_use` = `id`.
pub fn check_id_token(
    jwks: &jsonwebtoken::jwk::JwkSet,
    issuer: &str,
    app_client_id: &str,
    token: &str,
) -> Result<serde_json::Value, TokenProblem> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenProblem::Malformed(e.to_string()))?;
    let kid = header.kid.ok_or(TokenProblem::NoKeyId)?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| TokenProblem::UnknownKey(kid.clone()))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| TokenProblem::UnusableKey {
        kid: kid.clone(),
        error: e.to_string(),
    })?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[app_client_id]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| TokenProblem::Invalid(e.to_string()))?;
    if data.claims["token_use"] != "id" {
        return Err(TokenProblem::NotAnIdToken);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key made for these tests alone (`testdata/`), signing tokens the way Cognito does.
    /// PKCS#1 DER; `openssl rsa -inform DER -in testdata/test-only-signing-key.der` shows it.
    const PRIVATE_KEY: &[u8] = include_bytes!("../testdata/test-only-signing-key.der");
    const MODULUS: &str = "0Ypg3mAUFvFSwkbnLySiOa4axMbCDwkMoAVda5yixfjqQMuY1IhrXfsLKxcKFUNaCtURcOi2kbEghK07DppkSX1Dnnp-_D_nAYx8wD1SSaghRet1MoBIosn-2Lifm1umRAjCOs6xuKXu6lmWBWYv8399vTQHZijmXDrNij1atQyIX8JAGDD1Eap4RLWaW1T0nS8mPUKzRUyNSmkRut_R9QZE_9TwMMUU2Ld8hOPMXDiALL9aQMbNEQWX3v9-sECi7HsZOEWDFvngyOMKFGPVR8mpxc9Vgk8Wyfq7Be0NovdoLYnBwENGWjLA2OgBc8U65ziU3z_dDN1Zh8rAL0R_gw";

    fn outputs() -> Outputs {
        Outputs {
            region: "us-east-1".into(),
            user_pool_id: "us-east-1_Test".into(),
            user_pool_arn: "arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_Test".into(),
            app_client_id: "client123".into(),
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test".into(),
            jwks_uri: "unused".into(),
            endpoint: None,
            sign_in: crate::session::SignInSettings::default(),
        }
    }

    fn jwks() -> jsonwebtoken::jwk::JwkSet {
        serde_json::from_value(serde_json::json!({ "keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1", "n": MODULUS, "e": "AQAB"
        }]}))
        .unwrap()
    }

    fn token(kid: &str, claims: serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = jsonwebtoken::EncodingKey::from_rsa_der(PRIVATE_KEY);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn claims(overrides: serde_json::Value) -> serde_json::Value {
        let now = triggers::unix_now();
        let mut claims = serde_json::json!({
            "iss": outputs().issuer,
            "aud": "client123",
            "token_use": "id",
            "email": "a@b.example",
            "exp": now + 600,
            "iat": now,
        });
        for (key, value) in overrides.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    }

    #[test]
    fn a_right_id_token_verifies_and_every_wrong_one_is_refused() {
        let (jwks, outputs) = (jwks(), outputs());
        let good = check_id_token(
            &jwks,
            &outputs.issuer,
            &outputs.app_client_id,
            &token("k1", claims(serde_json::json!({}))),
        );
        assert_eq!(good.unwrap()["email"], "a@b.example");
        let refused = |claims: serde_json::Value| {
            check_id_token(
                &jwks,
                &outputs.issuer,
                &outputs.app_client_id,
                &token("k1", claims),
            )
            .unwrap_err()
        };
        let now = triggers::unix_now();
        assert!(matches!(
            refused(claims(serde_json::json!({ "exp": now - 120 }))),
            TokenProblem::Invalid(e) if e.contains("Expired")
        ));
        assert!(matches!(
            refused(claims(serde_json::json!({ "iss": "https://evil.example" }))),
            TokenProblem::Invalid(_)
        ));
        assert!(matches!(
            refused(claims(serde_json::json!({ "aud": "another-client" }))),
            TokenProblem::Invalid(_)
        ));
        assert_eq!(
            refused(claims(serde_json::json!({ "token_use": "access" }))),
            TokenProblem::NotAnIdToken
        );
        assert_eq!(
            check_id_token(
                &jwks,
                &outputs.issuer,
                &outputs.app_client_id,
                &token("k2", claims(serde_json::json!({})))
            ),
            Err(TokenProblem::UnknownKey("k2".into()))
        );
        assert!(matches!(
            check_id_token(&jwks, &outputs.issuer, &outputs.app_client_id, "not.a.jwt"),
            Err(TokenProblem::Malformed(_))
        ));
    }
}
