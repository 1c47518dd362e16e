//! `emailcode-serve` as a team runs it: its own process, started from the outputs file with
//! no AWS credentials in its environment, several replicas sharing one session key, a key
//! rotated with the previous one still accepted, refresh from the cookie, the health
//! routes, the per-client limit, and SIGTERM finishing the request in flight.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{Http, Served, deployed};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_emailcode-serve");

/// One running `emailcode-serve`, stopped (by its process id) when dropped.
struct Replica {
    child: Child,
    http: Http,
    /// Its stderr's lines, as the reader thread has got them so far.
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The binary with an environment holding nothing but `PATH`: no AWS credentials, profile,
/// region or endpoint, and none of its own variables.
fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    command
}

impl Replica {
    fn start(args: &[&str]) -> Self {
        let mut child = bare(&[&["--listen", "127.0.0.1:0"], args].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address, listening) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["event"] == "listening"
                {
                    let _ = address.send(event["address"].as_str().unwrap().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let base = listening
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "emailcode-serve did not start: {:?}",
                    child.try_wait().unwrap()
                )
            });
        Self {
            child,
            http: Http { base },
            log,
            reader: Some(reader),
        }
    }

    /// SIGTERM to this process, by its id.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Its exit status, once every line it wrote has been read.
    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.reader.take() {
                    reader.join().unwrap();
                }
                return status;
            }
            assert!(Instant::now() < deadline, "the service did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log once it holds `count` access lines: the service writes a request's line
    /// before it answers, but the reader thread may not have got it when the answer arrives.
    fn log_with_requests(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            let requests = log
                .iter()
                .filter(|line| line.contains(r#""event":"request""#))
                .count();
            if requests >= count || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("replicas-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new key file, from `emailcode-serve generate-key`.
fn key_file(dir: &Path, name: &str) -> String {
    let output = bare(&["generate-key"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let path = dir.join(name);
    std::fs::write(&path, &output.stdout).unwrap();
    path.display().to_string()
}

fn outputs_file(dir: &Path, stack: &Served) -> String {
    let path = dir.join("outputs.json");
    std::fs::write(&path, serde_json::to_string_pretty(&stack.outputs).unwrap()).unwrap();
    path.display().to_string()
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("refresh_token="))
        .unwrap()
}

/// Starts a sign-in on `on` and returns its session and the code mailed for it.
fn start(stack: &Served, on: &Http, email: &str, seen: &mut Vec<String>) -> (Value, String) {
    let started = on.post("/auth/start", &json!({ "email": email }));
    assert_eq!(started.status, 200, "{started:?}");
    let code = stack.code_for(email, seen);
    seen.push(code.clone());
    (started.body["session"].clone(), code)
}

fn verify(on: &Http, email: &str, session: &Value, code: &str) -> common::Reply {
    on.post(
        "/auth/verify",
        &json!({ "email": email, "session": session, "code": code }),
    )
}

#[test]
fn replicas_share_one_key_a_rotated_key_keeps_sign_ins_and_refresh_uses_the_cookie() {
    let email = "ines@replicas.example";
    let stack = deployed("", &[email]);
    let dir = scratch("keys");
    let outputs = outputs_file(&dir, &stack);
    let (old_key, new_key) = (key_file(&dir, "old.key"), key_file(&dir, "new.key"));
    assert_ne!(
        std::fs::read(&old_key).unwrap(),
        std::fs::read(&new_key).unwrap()
    );
    let a = Replica::start(&["--outputs", &outputs, "--key-file", &old_key]);
    let b = Replica::start(&["--outputs", &outputs, "--key-file", &old_key]);
    let mut seen = Vec::new();

    // Started on one replica, verified on the other.
    let (session, code) = start(&stack, &a.http, email, &mut seen);
    let signed_in = verify(&b.http, email, &session, &code);
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let refresh_token = cookie_value(&signed_in.cookies[0]).to_owned();
    let cookie = format!("refresh_token={refresh_token}");

    // A reload: the cookie gets fresh tokens, on either replica, and no new code is sent.
    let mails = stack.mails_to(email);
    let refreshed = a.http.post_with_cookie("/auth/refresh", Some(&cookie));
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let id_token = refreshed.body["id_token"].as_str().unwrap();
    assert!(refreshed.body["access_token"].as_str().is_some());
    assert!(refreshed.body.get("refresh_token").is_none());
    let me = b.http.get("/me", Some(id_token));
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["claims"]["email"], email);
    assert_eq!(stack.mails_to(email), mails);

    // The key rotated between start and verify: the new replica still takes the sign-in
    // with the old key configured as previous, and refuses it without.
    let rotated = Replica::start(&[
        "--outputs",
        &outputs,
        "--key-file",
        &new_key,
        "--previous-key-file",
        &old_key,
    ]);
    let only_new = Replica::start(&["--outputs", &outputs, "--key-file", &new_key]);
    let (session, code) = start(&stack, &a.http, email, &mut seen);
    let refused = verify(&only_new.http, email, &session, &code);
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["error"], "invalid_session");
    let done = verify(&rotated.http, email, &session, &code);
    assert_eq!(done.status, 200, "{done:?}");

    // Signed out on one replica, the cookie no longer refreshes on another: 401, cleared.
    let out = a.http.post_with_cookie("/auth/sign-out", Some(&cookie));
    assert_eq!(out.status, 200, "{out:?}");
    let revoked = b.http.post_with_cookie("/auth/refresh", Some(&cookie));
    assert_eq!(revoked.status, 401, "{revoked:?}");
    assert_eq!(revoked.body["error"], "invalid_token");
    assert!(
        revoked
            .cookies
            .iter()
            .any(|c| c.starts_with("refresh_token=;") && c.contains("Max-Age=0")),
        "{revoked:?}"
    );
    let none = b.http.post_with_cookie("/auth/refresh", None);
    assert_eq!(none.status, 401, "{none:?}");

    // One JSON line per request, with its id; no address, code, token or cookie anywhere.
    let secrets: Vec<&str> = [email, refresh_token.as_str(), id_token]
        .into_iter()
        .chain(seen.iter().map(String::as_str))
        .collect();
    for replica in [&a, &b, &rotated, &only_new] {
        let log = replica.log();
        let requests: Vec<Value> = log
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).expect(line))
            .filter(|event| event["event"] == "request")
            .collect();
        assert!(!requests.is_empty());
        for request in &requests {
            for field in ["requestId", "method", "route", "status", "latencyMs"] {
                assert!(request.get(field).is_some(), "{field} missing: {request}");
            }
        }
        for line in &log {
            for secret in &secrets {
                assert!(!line.contains(secret), "the log holds a secret: {line}");
            }
        }
    }
    let routes: Vec<String> = b
        .log_with_requests(4)
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "request")
        .map(|event| format!("{} {}", event["route"], event["status"]))
        .collect();
    assert_eq!(
        routes,
        [
            r#""/auth/verify" 200"#,
            r#""/me" 200"#,
            r#""/auth/refresh" 401"#,
            r#""/auth/refresh" 401"#
        ]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn health_routes_the_per_client_limit_and_sigterm_finishing_a_slow_request() {
    let email = "noor@replicas.example";
    let stack = deployed("", &[email]);
    let dir = scratch("health");
    let outputs = outputs_file(&dir, &stack);
    let key = key_file(&dir, "session.key");
    let mut replica = Replica::start(&[
        "--outputs",
        &outputs,
        "--key-file",
        &key,
        "--client-limit",
        "2",
    ]);
    let http = &replica.http;
    assert_eq!(http.get("/healthz", None).status, 200);
    let ready = http.get("/readyz", None);
    assert_eq!(
        (ready.status, &ready.body["status"]),
        (200, &json!("ready"))
    );

    // From ids alone, a pool whose keys cannot be fetched: up, but not ready.
    let unreachable = Replica::start(&[
        "--region",
        "us-east-1",
        "--user-pool-id",
        "us-east-1_Nowhere",
        "--app-client-id",
        "nowhere",
        "--endpoint",
        "http://127.0.0.1:9",
        "--key-file",
        &key,
    ]);
    assert_eq!(unreachable.http.get("/healthz", None).status, 200);
    let not_ready = unreachable.http.get("/readyz", None);
    assert_eq!(not_ready.status, 503, "{not_ready:?}");

    // Two requests a minute from this client, then 429 with when to come back.
    let mut seen = Vec::new();
    let _ = start(&stack, http, email, &mut seen);
    let second = http.post("/auth/start", &json!({ "email": email }));
    let third = http.post("/auth/start", &json!({ "email": email }));
    if second.status == 429 {
        // The minute turned between the two requests: the count started over once.
        assert_eq!(third.status, 200);
    } else {
        assert_eq!(third.status, 429, "{third:?}");
        assert_eq!(third.body["error"], "too_many_requests");
        let retry: u64 = third.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Refresh calls Cognito with what the client sent: limited as well.
        let refresh = http.post_with_cookie("/auth/refresh", Some("refresh_token=forged"));
        assert_eq!(refresh.status, 429, "{refresh:?}");
    }

    // SIGTERM while a request's body is still arriving: the request completes, then the
    // process exits cleanly and takes no more connections.
    let slow = Replica::start(&["--outputs", &outputs, "--key-file", &key]);
    let address = slow.http.base.trim_start_matches("http://").to_owned();
    let body = json!({ "email": email }).to_string();
    let mut connection = TcpStream::connect(&address).unwrap();
    write!(
        connection,
        "POST /auth/start HTTP/1.1\r\nHost: {address}\r\nOrigin: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        slow.http.base,
        body.len(),
        &body[..5]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    slow.terminate();
    let stopping = Instant::now();
    while !slow.log().iter().any(|line| line.contains(r#""stopping""#)) {
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "{:?}",
            slow.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    connection.write_all(&body.as_bytes()[5..]).unwrap();
    let mut answer = String::new();
    connection
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = connection.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""session""#), "{answer}");
    let mut slow = slow;
    assert!(slow.wait(Duration::from_secs(15)).success());
    assert!(TcpStream::connect(&address).is_err());
    assert!(slow.log().last().unwrap().contains(r#""stopped""#));

    replica.terminate();
    assert!(replica.wait(Duration::from_secs(15)).success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn it_refuses_to_start_without_a_usable_key_or_a_pool_saying_what_to_do() {
    let dir = scratch("refusals");
    let short = dir.join("short.key");
    std::fs::write(&short, "c2hvcnQ").unwrap();
    let outputs = dir.join("outputs.json");
    std::fs::write(&outputs, "{}").unwrap();
    for (args, expected) in [
        (
            vec![
                "--region",
                "us-east-1",
                "--user-pool-id",
                "p",
                "--app-client-id",
                "c",
            ],
            "generate-key",
        ),
        (
            vec![
                "--region",
                "us-east-1",
                "--user-pool-id",
                "p",
                "--app-client-id",
                "c",
                "--key-file",
                short.to_str().unwrap(),
            ],
            "5 bytes long",
        ),
        (
            vec!["--key-file", short.to_str().unwrap()],
            "--outputs FILE",
        ),
        (
            vec!["--outputs", outputs.to_str().unwrap()],
            "cargo xtask outputs",
        ),
    ] {
        let output = bare(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
