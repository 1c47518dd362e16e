//! AWS clients for one stack: region and endpoint from the spec, credentials from the
//! standard chain, and a counter of every request sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::{
    ConfigBag, Intercept, RuntimeComponents,
    interceptors::{
        AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
        BeforeTransmitInterceptorContextRef,
    },
};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;

use crate::spec::StackSpec;

/// The account the local emulators play: moto's default, and the one `cargo xtask emulator`
/// gives MiniStack, so the two agree on the account in every ARN when a test uses both.
pub const EMULATOR_ACCOUNT: &str = "123456789012";

/// Keys used when an emulator endpoint is set and the environment has no credentials:
/// emulators accept any, and AWS never sees them. MiniStack takes a twelve-digit key for the
/// account id; unsigned calls (a sign-in's InitiateAuth) get its default, the same one.
const EMULATOR_KEY: &str = EMULATOR_ACCOUNT;

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sts: aws_sdk_sts::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub requests: RequestLog,
    pub deadlines: Deadlines,
}

/// How long deploy waits for AWS's eventual consistency before it reports an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// A new role becoming assumable by Lambda (terraform-provider-aws allows 2 minutes).
    pub role_propagation: Duration,
    /// A function becoming Active, or a conflicting update of it finishing.
    pub function_ready: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            role_propagation: Duration::from_secs(120),
            function_ready: Duration::from_secs(300),
        }
    }
}

/// Every request gets these; an attempt that takes longer is retried by the SDK (or, for a
/// create AWS does not make idempotent, looked up first).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(90);

/// How to reach AWS beyond what the spec says.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Wait this long before every request. The benchmark uses it to count sequential round
    /// trips: wall time divided by the delay. Plain HTTP only, so only for an emulator.
    pub added_latency: Option<Duration>,
    /// Keep every request's body and every read's response body, as sent and received, so
    /// tests can check the wire against AWS's rules. Off by default: zips are megabytes.
    pub capture_bodies: bool,
    /// Faults to inject into chosen operations, for tests of what the tool does when AWS
    /// misbehaves. Plain HTTP only, so only for an emulator.
    pub faults: Option<Faults>,
    /// Shorter deadlines, so tests of what happens past them need not wait minutes.
    pub deadlines: Option<Deadlines>,
    /// A shorter attempt timeout, for the same reason.
    pub attempt_timeout: Option<Duration>,
    /// End the whole process, as a kill would, just before sending this request (1-based):
    /// for tests of what a run killed midway leaves, from outside the process.
    pub die_at_request: Option<usize>,
}

/// The SDK's standard variables for one service's endpoint alone.
pub const CLOUDWATCH_ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_CLOUDWATCH";
pub const SES_ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_SESV2";

/// An endpoint set in code shadows the SDK's standard per-service variable; beside an
/// emulator endpoint it still counts, so one service can go to an emulator that has what
/// another lacks (moto speaks no CBOR for CloudWatch and has no SES event destinations).
fn emulated_service_endpoint(target: &Target, variable: &str) -> Option<String> {
    target.endpoint.as_ref()?;
    std::env::var(variable).ok().filter(|url| !url.is_empty())
}

/// The variable that sets [`ConnectOptions::die_at_request`] for a command-line run.
pub const DIE_AT_REQUEST_VARIABLE: &str = "EMAILCODE_TEST_DIE_AT_REQUEST";

impl ConnectOptions {
    /// The options a command-line run takes from its environment: none, unless a test
    /// asks the process to die at a chosen request.
    pub fn from_environment() -> Self {
        Self {
            die_at_request: std::env::var(DIE_AT_REQUEST_VARIABLE)
                .ok()
                .and_then(|n| n.parse().ok()),
            ..Self::default()
        }
    }
}

/// The header that tells the fault injector which operation a request is; added after
/// signing, and only when faults are configured.
const OPERATION_HEADER: &str = "x-emailcode-test-operation";

/// Faults waiting to be injected, each into the next `times` requests of one operation.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<Vec<Fault>>>);

#[derive(Clone, Debug)]
pub struct Fault {
    /// The operation's name, or "*" for every operation.
    pub operation: &'static str,
    pub kind: FaultKind,
    /// How many matching requests pass untouched first.
    pub skip: usize,
    pub times: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The request reaches AWS and is carried out; its response is lost on the way back.
    LostResponse,
    /// AWS answers with this error (HTTP status, error code, message), doing nothing.
    Error {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    /// The connection is reset before the request arrives.
    Reset,
    /// No answer for this long, then the request goes through.
    Stall(Duration),
}

impl Faults {
    pub fn inject(&self, fault: Fault) {
        self.0.lock().expect("faults poisoned").push(fault);
    }

    /// How many injections are still to happen.
    pub fn remaining(&self) -> usize {
        self.0
            .lock()
            .expect("faults poisoned")
            .iter()
            .map(|f| f.times)
            .sum()
    }

    /// `operation` "*" matches every operation: with a large `times`, a process that died.
    fn take(&self, operation: &str) -> Option<FaultKind> {
        let mut faults = self.0.lock().expect("faults poisoned");
        let fault = faults
            .iter_mut()
            .find(|f| (f.operation == operation || f.operation == "*") && f.times > 0)?;
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.times -= 1;
        Some(fault.kind)
    }
}

pub async fn connect(spec: &StackSpec) -> Clients {
    connect_with(spec, ConnectOptions::from_environment()).await
}

pub async fn connect_with(spec: &StackSpec, options: ConnectOptions) -> Clients {
    let target = Target {
        region: Some(spec.region.as_str().to_owned()),
        endpoint: spec.endpoint.as_ref().map(|e| e.as_str().to_owned()),
    };
    connect_to(&target, options).await
}

/// Where commands without a spec (`stacks list`, `teardown --name`) go: a region and an
/// endpoint, each from the command line or else the SDK's standard settings (`AWS_REGION`,
/// the profile, `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

impl Target {
    /// `region` when given, else the SDK's; the endpoint from `AWS_ENDPOINT_URL` when set.
    pub fn from_environment(region: Option<&str>) -> Self {
        Self {
            region: region.map(str::to_owned),
            endpoint: std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|e| !e.is_empty()),
        }
    }
}

/// The region the clients talk to, as the SDK resolved it.
pub fn region_of(clients: &Clients) -> Option<String> {
    clients.sts.config().region().map(|r| r.to_string())
}

pub async fn connect_to(target: &Target, options: ConnectOptions) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .operation_attempt_timeout(options.attempt_timeout.unwrap_or(ATTEMPT_TIMEOUT))
            .build(),
    );
    if let Some(region) = &target.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint.as_str());
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                EMULATOR_KEY,
                EMULATOR_KEY,
                None,
                None,
                "emulator",
            ));
        }
    }
    if options.added_latency.is_some() || options.faults.is_some() {
        loader = loader.http_client(TestHttpClient {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            delay: options.added_latency,
            faults: options.faults.clone(),
        });
    }
    let config = loader.load().await;
    let requests = RequestLog {
        capture_bodies: options.capture_bodies,
        tag_operations: options.faults.is_some(),
        die_at: options.die_at_request,
        ..RequestLog::default()
    };
    Clients {
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
            aws_sdk_cognitoidentityprovider::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        ses: aws_sdk_sesv2::Client::from_conf({
            let builder =
                aws_sdk_sesv2::config::Builder::from(&config).interceptor(requests.clone());
            match emulated_service_endpoint(target, SES_ENDPOINT_VARIABLE) {
                Some(url) => builder.endpoint_url(url).build(),
                None => builder.build(),
            }
        }),
        sts: aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf({
            let builder =
                aws_sdk_cloudwatch::config::Builder::from(&config).interceptor(requests.clone());
            match emulated_service_endpoint(target, CLOUDWATCH_ENDPOINT_VARIABLE) {
                Some(url) => builder.endpoint_url(url).build(),
                None => builder.build(),
            }
        }),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
        requests,
        deadlines: options.deadlines.unwrap_or_default(),
    }
}

/// Every request attempt sent, by service and operation. Tests use it to prove a command
/// read-only; the benchmark reports it.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    sent: Arc<Mutex<Vec<(String, String)>>>,
    capture_bodies: bool,
    tag_operations: bool,
    die_at: Option<usize>,
    bodies: Arc<Mutex<Vec<Exchange>>>,
}

/// One request on the wire, with the response body of a read (only when capturing).
#[derive(Clone, Debug)]
pub struct Exchange {
    pub service: String,
    pub operation: String,
    /// The request's URI: REST services name the resource in its path.
    pub uri: String,
    pub request: String,
    pub response: Option<String>,
}

impl RequestLog {
    /// Every request's body as signed and sent, in order (empty unless capturing).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.bodies.lock().expect("request log poisoned").clone()
    }

    pub fn entries(&self) -> Vec<(String, String)> {
        self.sent.lock().expect("request log poisoned").clone()
    }

    /// Requests that may change something: anything but Get, List, Describe and the STS identity check.
    pub fn mutating(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter(|(_, operation)| !is_read_only(operation))
            .map(|(service, operation)| format!("{service}.{operation}"))
            .collect()
    }

    pub fn counts(&self) -> BTreeMap<String, (usize, usize)> {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (service, operation) in self.entries() {
            let entry = counts.entry(service).or_default();
            if is_read_only(&operation) {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        counts
    }
}

pub fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_lambda::error::BoxError> {
        if self.tag_operations
            && let Some(metadata) = cfg.load::<Metadata>()
        {
            context
                .request_mut()
                .headers_mut()
                .insert(OPERATION_HEADER, metadata.name().to_owned());
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_lambda::error::BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let mut sent = self.sent.lock().expect("request log poisoned");
            if self.die_at == Some(sent.len() + 1) {
                // No unwinding, no destructors, no lock released: as good as SIGKILL.
                std::process::exit(137);
            }
            sent.push((metadata.service().to_owned(), metadata.name().to_owned()));
            drop(sent);
            if self.capture_bodies {
                let body = context.request().body().bytes().unwrap_or_default();
                self.bodies
                    .lock()
                    .expect("request log poisoned")
                    .push(Exchange {
                        service: metadata.service().to_owned(),
                        operation: metadata.name().to_owned(),
                        uri: context.request().uri().to_owned(),
                        request: String::from_utf8_lossy(body).into_owned(),
                        response: None,
                    });
            }
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_lambda::error::BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        if !self.capture_bodies || !is_read_only(metadata.name()) {
            return Ok(());
        }
        let body = context.response().body().bytes().unwrap_or_default();
        let mut bodies = self.bodies.lock().expect("request log poisoned");
        if let Some(exchange) = bodies
            .iter_mut()
            .rev()
            .find(|e| e.operation == metadata.name() && e.response.is_none())
        {
            exchange.response = Some(String::from_utf8_lossy(body).into_owned());
        }
        Ok(())
    }
}

/// The HTTP client of the benchmark's critical-path runs and of the fault tests: adds a delay
/// to every request, and injects the configured faults.
#[derive(Debug, Clone)]
struct TestHttpClient {
    inner: SharedHttpClient,
    delay: Option<Duration>,
    faults: Option<Faults>,
}

impl HttpClient for TestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(TestConnector {
            inner: self.inner.http_connector(settings, components),
            delay: self.delay,
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct TestConnector {
    inner: SharedHttpConnector,
    delay: Option<Duration>,
    faults: Option<Faults>,
}

impl HttpConnector for TestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, delay) = (self.inner.clone(), self.delay);
        let fault = self.faults.as_ref().and_then(|faults| {
            request
                .headers()
                .get(OPERATION_HEADER)
                .and_then(|operation| faults.take(operation))
        });
        HttpConnectorFuture::new(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let reset = |what: &str| {
                Err(ConnectorError::io(Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    format!("injected fault: {what}"),
                ))))
            };
            match fault {
                None => inner.call(request).await,
                Some(FaultKind::LostResponse) => {
                    drop(inner.call(request).await);
                    reset("the response was lost")
                }
                Some(FaultKind::Reset) => reset("connection reset"),
                Some(FaultKind::Stall(pause)) => {
                    tokio::time::sleep(pause).await;
                    inner.call(request).await
                }
                Some(FaultKind::Error {
                    status,
                    code,
                    message,
                }) => Ok(error_response(&request, status, code, message)),
            }
        })
    }
}

/// An error response in the protocol of the request's service: JSON with `__type` (Cognito,
/// DynamoDB), XML (IAM, STS), or REST JSON with the `x-amzn-errortype` header (Lambda, SES).
fn error_response(
    request: &HttpRequest,
    status: u16,
    code: &str,
    message: &str,
) -> aws_smithy_runtime_api::http::Response {
    let content_type = request
        .headers()
        .get("content-type")
        .unwrap_or_default()
        .to_owned();
    let (body, response_type) = if content_type.starts_with("application/x-amz-json") {
        (
            serde_json::json!({ "__type": code, "message": message }).to_string(),
            content_type.as_str(),
        )
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        (
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
            "text/xml",
        )
    } else {
        (
            serde_json::json!({ "message": message, "Type": "User" }).to_string(),
            "application/json",
        )
    };
    let mut response = aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("a valid HTTP status"),
        aws_smithy_types::body::SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", response_type.to_owned());
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_owned());
    response
}
