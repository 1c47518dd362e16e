//! The local AWS emulators, each pinned with everything it imports and installed into an
//! ignored folder, started and stopped by process id: MiniStack (the whole flow, triggers
//! included; `.emulator/venv`) and moto (a second, independent control plane for the tests;
//! `.emulator/moto/venv`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::python::PythonEnv;
use crate::{progress, project_root};

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MiniStack,
    Moto,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::MiniStack => "ministack",
            Self::Moto => "moto",
        }
    }

    /// The variable that moves it to another port, and its usual port.
    fn port_variable(self) -> (&'static str, u16) {
        match self {
            Self::MiniStack => ("EMULATOR_PORT", 4566),
            Self::Moto => ("MOTO_PORT", 5055),
        }
    }

    fn dir(self) -> PathBuf {
        let root = project_root().join(".emulator");
        match self {
            Self::MiniStack => root,
            Self::Moto => root.join("moto"),
        }
    }

    fn python_env(self) -> PythonEnv {
        let (file, purpose) = match self {
            Self::MiniStack => ("requirements.txt", "the local emulator (MiniStack)"),
            Self::Moto => ("moto-requirements.txt", "the second emulator (moto)"),
        };
        PythonEnv {
            dir: self.dir(),
            requirements: project_root().join("xtask").join("emulator").join(file),
            purpose,
        }
    }

    fn health_path(self) -> &'static str {
        match self {
            Self::MiniStack => "/_ministack/health",
            Self::Moto => "/moto-api/",
        }
    }

    /// Where the emulator writes scratch files (MiniStack unpacks each function's code
    /// there): inside the checkout, so another user's or another checkout's emulator on this
    /// machine never owns them.
    fn scratch(self, port: u16) -> PathBuf {
        self.dir().join(format!("scratch-{port}"))
    }

    fn command(self, port: u16, endpoint: &str) -> Command {
        let python = self.python_env();
        let mut command = match self {
            Self::MiniStack => {
                let mut command = Command::new(python.program("python"));
                command
                    .arg(
                        project_root()
                            .join("xtask")
                            .join("emulator")
                            .join("launch.py"),
                    )
                    .env("GATEWAY_PORT", port.to_string())
                    .env("BIND_HOST", "127.0.0.1")
                    // MiniStack hands this to provided.* functions only when it has it
                    // itself; without it the Create trigger cannot reach SES.
                    .env("AWS_ENDPOINT_URL", endpoint)
                    .env("LOG_LEVEL", "WARNING")
                    .env("MINISTACK_ACCOUNT_ID", provisioner::aws::EMULATOR_ACCOUNT);
                command
            }
            Self::Moto => {
                let mut command = Command::new(python.program("moto_server"));
                command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                command
            }
        };
        command.env("TMPDIR", self.scratch(port));
        command
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Install MiniStack if needed and start it in the background.
    Start,
    /// Stop the emulator this project started.
    Stop,
    /// Say whether the emulator is running.
    Status,
}

pub fn run(action: Action) -> Result<ExitCode> {
    match action {
        Action::Start => {
            let emulator = Emulator::from_env();
            match emulator.start()? {
                Started::Now => println!(
                    "emulator started on {} (log: {})",
                    emulator.endpoint(),
                    emulator.log().display()
                ),
                Started::Already => println!("emulator already running on {}", emulator.endpoint()),
            }
        }
        Action::Stop => {
            if Emulator::from_env().stop()? {
                println!("emulator stopped");
            } else {
                println!("emulator was not running");
            }
        }
        Action::Status => {
            let emulator = Emulator::from_env();
            if emulator.healthy() {
                println!("emulator running on {}", emulator.endpoint());
            } else {
                println!("emulator not running; start it with `cargo xtask emulator start`");
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub enum Started {
    Now,
    Already,
}

pub struct Emulator {
    pub kind: Kind,
    pub port: u16,
}

impl Emulator {
    /// MiniStack; `EMULATOR_PORT` picks another port when 4566 is taken.
    pub fn from_env() -> Self {
        Self::of_kind(Kind::MiniStack)
    }

    /// moto; `MOTO_PORT` picks another port when 5055 is taken.
    pub fn moto_from_env() -> Self {
        Self::of_kind(Kind::Moto)
    }

    fn of_kind(kind: Kind) -> Self {
        let (variable, default) = kind.port_variable();
        let port = std::env::var(variable)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        Self { kind, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.kind
            .dir()
            .join(format!("{}-{}.pid", self.kind.name(), self.port))
    }

    fn log(&self) -> PathBuf {
        self.kind
            .dir()
            .join(format!("{}-{}.log", self.kind.name(), self.port))
    }

    pub fn healthy(&self) -> bool {
        http_get(self.port, self.kind.health_path()).is_some_and(|response| {
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
        })
    }

    fn port_in_use(&self) -> bool {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    pub fn start(&self) -> Result<Started> {
        if self.running_pid().is_some() && self.healthy() {
            return Ok(Started::Already);
        }
        self.kind.python_env().ensure_installed()?;
        if self.port_in_use() {
            bail!(
                "port {} is taken by another process; stop it, or run with {}=<free port> (and point the spec's `endpoint` there)",
                self.port,
                self.kind.port_variable().0
            );
        }
        let log = std::fs::File::create(self.log())?;
        self.clear_scratch();
        std::fs::create_dir_all(self.kind.scratch(self.port))?;
        let endpoint = self.endpoint();
        let mut child = self
            .kind
            .command(self.port, &endpoint)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so stop reaches the trigger processes it spawns too.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.kind.name()))?;
        std::fs::write(self.pid_file(), child.id().to_string())?;
        let started = Instant::now();
        let _spinner = progress::spinner(&format!("waiting for the emulator on {endpoint}"));
        while !self.healthy() {
            if let Some(status) = child.try_wait()? {
                let _ = std::fs::remove_file(self.pid_file());
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.kind.name(),
                    self.log().display()
                );
            }
            if started.elapsed() > STARTUP_DEADLINE {
                self.stop()?;
                bail!(
                    "{} did not answer within {} s; see {}",
                    self.kind.name(),
                    STARTUP_DEADLINE.as_secs(),
                    self.log().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        progress::detail(&format!(
            "{} pid {} ready in {:.1} s",
            self.kind.name(),
            child.id(),
            started.elapsed().as_secs_f64()
        ));
        Ok(Started::Now)
    }

    fn running_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    /// Stops the process group we started, by its id. Returns whether one was running.
    pub fn stop(&self) -> Result<bool> {
        let Some(pid) = self.running_pid() else {
            let _ = std::fs::remove_file(self.pid_file());
            return Ok(false);
        };
        let group = format!("-{pid}");
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        let _ = std::fs::remove_file(self.pid_file());
        self.clear_scratch();
        Ok(true)
    }

    /// The functions MiniStack unpacked (a few MiB each, a thousand in a test run) are of no
    /// use once it stops; nothing else is written there.
    fn clear_scratch(&self) {
        let scratch = self.kind.scratch(self.port);
        if let Err(error) = std::fs::remove_dir_all(&scratch)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: could not remove {}: {error}", scratch.display());
        }
    }
}

/// Running, not merely a zombie waiting for the process that spawned it to reap it.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).ok()?;
    Some(String::from_utf8_lossy(&head[..read]).into_owned())
}
