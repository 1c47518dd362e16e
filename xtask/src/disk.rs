//! Free space where `cargo xtask test` writes. A run from a fresh clone writes several GiB
//! (the debug build of the AWS SDK, the trigger builds twice, the emulators' unpacked
//! functions); on a full disk the failure shows up far from its cause, as a linker "Bus
//! error" or a copy that stops half way, so the test task says so before and after.

use std::path::Path;
use std::process::Command;

const GIB: u64 = 1 << 30;

/// What a test run from a fresh clone writes at most: 6.9 GB at its peak, read with `df`
/// every 5 s through a whole `.ci/run` (README, "Try it"), with some headroom.
pub const FRESH_TEST_RUN_WRITES: u64 = 8 * GIB;

/// Below this, a failed step is more likely the disk's fault than the code's.
const NEARLY_FULL: u64 = GIB;

/// Bytes free to this user on the filesystem holding `path`, from POSIX `df -Pk`; `None`
/// when `df` is missing or says something else.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let output = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    if !output.status.success() {
        return None;
    }
    available_kib(&String::from_utf8_lossy(&output.stdout)).map(|kib| kib * 1024)
}

/// The "Available" column of `df -P`'s one data line.
fn available_kib(df_output: &str) -> Option<u64> {
    df_output
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// A warning for `path` when it has less free than `needed`, saying what to do.
pub fn shortage(path: &Path, free: u64, needed: u64) -> Option<String> {
    (free < needed).then(|| {
        format!(
            "only {} free on the disk holding {}; a test run from a fresh clone writes up to {}. \
             Free some space (`cargo clean` in old checkouts), or expect steps to fail with \
             \"No space left on device\" or a linker \"Bus error\"",
            human(free),
            path.display(),
            human(needed)
        )
    })
}

/// After a failed step: a hint when the disk is nearly full, since the step's own error
/// rarely names the disk.
pub fn hint_after_failure(path: &Path) -> Option<String> {
    let free = free_bytes(path)?;
    (free < NEARLY_FULL).then(|| {
        format!(
            "the disk holding {} has only {} free: the failure above may be the disk's, not the \
             code's. Free some space and run again",
            path.display(),
            human(free)
        )
    })
}

fn human(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_available_column_of_posix_df() {
        let printed = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                       /dev/vda         263174212  62914560  33554432      66% /\n";
        assert_eq!(available_kib(printed), Some(33_554_432));
        assert_eq!(
            available_kib("Filesystem 1024-blocks Used Available\n"),
            None
        );
        assert_eq!(available_kib(""), None);
    }

    #[test]
    fn free_space_of_this_checkout_is_read() {
        let free = free_bytes(Path::new(env!("CARGO_MANIFEST_DIR")))
            .expect("df -Pk answers for the checkout");
        assert!(free > 0);
    }

    #[test]
    fn a_shortage_names_the_path_both_sizes_and_what_to_do() {
        let path = Path::new("/work/checkout/target");
        assert_eq!(shortage(path, 9 * GIB, 8 * GIB), None);
        let warning = shortage(path, 300 << 20, 8 * GIB).expect("300 MiB is short of 8 GiB");
        assert!(warning.contains("only 300 MiB free"), "{warning}");
        assert!(warning.contains("/work/checkout/target"), "{warning}");
        assert!(warning.contains("8.0 GiB"), "{warning}");
        assert!(warning.contains("cargo clean"), "{warning}");
    }
}
