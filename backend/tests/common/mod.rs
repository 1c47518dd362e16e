//! What the service tests share: a stack deployed on the emulator, a user, and the service
//! running on a free loopback port in this process.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use provisioner::artifacts::Artifacts;
use provisioner::session::{Outputs, Session};
use serde_json::Value;

/// A deployed stack with its users, and the service in front of it (none for [`deployed`]).
pub struct Served {
    pub runtime: tokio::runtime::Runtime,
    pub session: Session,
    pub outputs: Outputs,
    pub http: Http,
    pub endpoint: String,
}

impl std::ops::Deref for Served {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

/// Requests to one running service.
pub struct Http {
    pub base: String,
}

static STACKS: AtomicUsize = AtomicUsize::new(0);

/// Deploys a stack with `extra` spec lines, adds `users`, and serves the sign-in service.
pub fn served(extra: &str, users: &[&str]) -> Served {
    served_with(extra, users, None, &[])
}

/// [`served`] with a per-client limit and the proxies trusted to name the client.
pub fn served_with(
    extra: &str,
    users: &[&str],
    client_limit: Option<u32>,
    trusted_proxies: &[std::net::IpAddr],
) -> Served {
    let mut stack = deployed(extra, users);
    let base = stack.runtime.block_on(async {
        let listener = backend::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = backend::Config {
            pool: backend::Pool::of(&stack.outputs),
            sign_in: stack.outputs.sign_in,
            public_origin: base.clone(),
            client_limit,
            trusted_proxies: trusted_proxies.to_vec(),
            session_keys: backend::SessionKeys::random().unwrap(),
        };
        let router = backend::router(config, stack.session.clients.cognito.clone()).unwrap();
        tokio::spawn(backend::serve(listener, router));
        base
    });
    stack.http = Http { base };
    stack
}

/// A stack deployed with `extra` spec lines and `users`, with no service in front of it:
/// its `http` goes nowhere until the caller starts one.
pub fn deployed(extra: &str, users: &[&str]) -> Served {
    let how = "the service tests need the local emulator and a trigger build: run `cargo xtask test`, \
               or `cargo xtask emulator start` and `cargo xtask build`, then set \
               EMULATOR_ENDPOINT=http://127.0.0.1:4566 TRIGGER_ZIPS=$PWD/target/trigger-zips/x86_64-unknown-linux-gnu";
    let endpoint = std::env::var("EMULATOR_ENDPOINT")
        .unwrap_or_else(|_| panic!("EMULATOR_ENDPOINT is not set; {how}"));
    let zips =
        std::env::var("TRIGGER_ZIPS").unwrap_or_else(|_| panic!("TRIGGER_ZIPS is not set; {how}"));
    let artifacts = Artifacts::load(Path::new(&zips)).unwrap_or_else(|e| panic!("{e}; {how}"));
    let stack = format!(
        "s{}-{}",
        std::process::id(),
        STACKS.fetch_add(1, Ordering::Relaxed)
    );
    let spec = std::env::temp_dir().join(format!("{stack}.yaml"));
    std::fs::write(
        &spec,
        format!(
            "name: {stack}\nregion: us-east-1\nendpoint: {endpoint}\nemail:\n  from: no-reply@{stack}.example\ntriggers:\n  architecture: x86_64\nuser_pool:\n  deletion_protection: false\n{extra}"
        ),
    )
    .unwrap();
    provisioner::bootstrap::ensure_for_spec_blocking(&spec).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (session, outputs) = runtime.block_on(async {
        let session = Session::open(&spec).await.unwrap();
        let outputs = session
            .deploy(&artifacts, &|_, _| {})
            .await
            .unwrap()
            .outputs;
        let session = Session::open(&spec).await.unwrap();
        for user in users {
            provisioner::users::add(&session, user).await.unwrap();
        }
        (session, outputs)
    });
    std::fs::remove_file(&spec).unwrap();
    Served {
        runtime,
        session,
        outputs,
        http: Http {
            base: String::new(),
        },
        endpoint,
    }
}

/// What one request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub cookies: Vec<String>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let cookies = headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.clone())
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        cookies,
        headers,
    }
}

impl Http {
    /// A JSON POST as the page sends it (same origin).
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(
            path,
            "application/json",
            Some(&self.base),
            &body.to_string(),
            None,
        )
    }

    /// An empty JSON POST from the page, with the refresh-token cookie the browser holds
    /// (`refresh_token=…`), if any: refresh and sign-out.
    pub fn post_with_cookie(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.post_raw(path, "application/json", Some(&self.base), "{}", cookie)
    }

    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        origin: Option<&str>,
        body: &str,
        cookie: Option<&str>,
    ) -> Reply {
        let mut request = agent()
            .post(format!("{}{path}", self.base))
            .header("Content-Type", content_type);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        reply(request.send(body).unwrap())
    }

    /// A JSON POST as a proxy would forward it, naming `forwarded_for` as the client.
    pub fn post_forwarded(&self, path: &str, body: &Value, forwarded_for: &str) -> Reply {
        let request = agent()
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", forwarded_for);
        reply(request.send(body.to_string()).unwrap())
    }

    pub fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut request = agent().get(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        reply(request.call().unwrap())
    }
}

impl Served {
    pub fn account(&self) -> &str {
        &self.session.observation.names.account
    }

    /// How many emails the address has received.
    pub fn mails_to(&self, email: &str) -> usize {
        provisioner::mailbox::messages(&self.endpoint, self.account())
            .unwrap()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to == email))
            .count()
    }

    /// The newest code sent to `email`, waiting for it if needed.
    pub fn code_for(&self, email: &str, seen: &[String]) -> String {
        provisioner::login::wait_for_code(&self.endpoint, self.account(), email, seen).unwrap()
    }
}

/// Any code but `code`, of the same length.
pub fn wrong(code: &str) -> String {
    if code.starts_with('0') {
        code.replacen('0', "1", 1)
    } else {
        format!("0{}", &code[1..])
    }
}

/// A wrong code other than [`wrong`]'s: the same wrong answer twice to one code is one guess,
/// counted once by the limits.
pub fn another_wrong(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let digit = last.parse::<u8>().unwrap_or(0);
    format!("{head}{}", (digit + 1) % 10)
}
