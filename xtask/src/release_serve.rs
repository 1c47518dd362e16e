//! `cargo xtask release-serve`: `emailcode-serve` as a static binary (musl) for x86_64 or
//! arm64 Linux, cross-built through the same zig toolchain as the arm64 triggers, so one
//! file runs on any Linux of that architecture, in a container `FROM scratch` too.

use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::flags::{ArchArg, ReleaseServeArgs};
use crate::{build, cargo, project_root};

const BINARY: &str = "emailcode-serve";

pub fn run(args: &ReleaseServeArgs) -> Result<ExitCode> {
    let target = match args.arch {
        ArchArg::X86_64 => "x86_64-unknown-linux-musl",
        ArchArg::Arm64 => "aarch64-unknown-linux-musl",
    };
    let root = project_root();
    build::ensure_rust_target(&root, target)?;
    let mut release = cargo();
    release.current_dir(&root);
    build::zigbuild(&mut release)?;
    release.args([
        "--locked",
        "--release",
        "--package",
        "backend",
        "--bin",
        BINARY,
        "--target",
        target,
    ]);
    crate::progress::step(&format!("building {BINARY} for {target}"));
    if !release.status().context("could not run cargo")?.success() {
        bail!("building {BINARY} failed (cargo's errors are above)");
    }
    let built = root
        .join("target")
        .join(target)
        .join("release")
        .join(BINARY);
    let bytes = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    ensure!(
        is_static_elf(&bytes),
        "{} asks for a dynamic loader; a static musl build should not",
        built.display()
    );
    let out_dir = root.join("target").join(BINARY).join(target);
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join(BINARY);
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))?;
    }
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "{}  {:.1} MiB, static, sha256 {digest}",
        out.display(),
        bytes.len() as f64 / 1_048_576.0
    );
    Ok(ExitCode::SUCCESS)
}

/// A 64-bit ELF without a `PT_INTERP` program header: the kernel runs it without a dynamic
/// loader, so it needs no libc from the machine.
fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read = |at: usize, len: usize| bytes.get(at..at + len);
    let (Some(magic), Some(&[class])) = (read(0, 4), read(4, 1)) else {
        return false;
    };
    if magic != b"\x7fELF" || class != 2 {
        return false;
    }
    let number = |at: usize, len: usize| -> Option<usize> {
        let mut value = 0usize;
        for (i, byte) in read(at, len)?.iter().enumerate() {
            value |= usize::from(*byte) << (8 * i);
        }
        Some(value)
    };
    let (Some(table), Some(entry), Some(count)) =
        (number(0x20, 8), number(0x36, 2), number(0x38, 2))
    else {
        return false;
    };
    (0..count).all(|i| number(table + i * entry, 4).is_some_and(|kind| kind != PT_INTERP as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header with `types` as its program headers' types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for kind in types {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn a_binary_asking_for_a_loader_is_not_static() {
        assert!(is_static_elf(&elf(&[1, 1, 4])));
        assert!(!is_static_elf(&elf(&[6, 3, 1])));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // This test's own binary, built for the host's glibc, has a loader.
        let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&own));
    }
}
