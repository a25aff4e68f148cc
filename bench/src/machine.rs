//! [`Machine`]: what the figures were measured on, read from `/proc` where Linux has it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The machine, the SQLite and the file system of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// The kernel release.
    pub kernel: String,
    /// The SQLite library linked in.
    pub sqlite: String,
    /// The file system type and mount point of the directory the databases were in.
    pub file_system: String,
}

impl Machine {
    /// Reads the machine; the databases live in `dir`.
    #[must_use]
    pub fn read(dir: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim())
            })
            .unwrap_or("unknown");
        Self {
            cpu: cpu.to_owned(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            sqlite: rusqlite::version().to_owned(),
            file_system: file_system(dir),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// `"<type> on <mount point> (<device>)"` of the mount that holds `dir`: the longest mount point
/// that is a prefix of its canonical path.
pub(crate) fn file_system(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(point)
                .then(|| (point.len(), format!("{kind} on {point} ({device})")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, found)| found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_file_system_is_found() {
        let machine = Machine::read(Path::new("/"));
        assert!(machine.cores >= 1);
        assert!(machine.sqlite.starts_with('3'), "{machine:?}");
        if cfg!(target_os = "linux") {
            assert!(machine.file_system.contains(" on / "), "{machine:?}");
        }
    }
}
