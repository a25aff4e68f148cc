//! [`Protected`]: the resource the leases protect, the kit's own so that every store is stressed
//! the same way. It is a file of accepted writes, one line each, which every worker appends to
//! under an exclusive `flock`; it refuses a write whose token is older than the newest it has
//! accepted for that resource (fencing as a storage service that knows only tokens does it).
//!
//! The file is the authoritative log of writes: a write is accepted exactly when its whole line
//! is in the file, and its line number is its position in the resource's serial order. A worker
//! killed while holding the lock loses it with its file descriptor; one killed inside its one
//! `write` call can at worst leave part of a line, which the next writer cuts off (that write was
//! never accepted: its writer was never told so).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The protected resource, as one worker holds it open.
#[derive(Debug)]
pub(crate) struct Protected {
    file: File,
    /// How many bytes of complete lines this worker has read.
    read_to: u64,
    /// The lines read so far.
    lines: u64,
    /// The newest token accepted per resource, as of `read_to`.
    newest: BTreeMap<String, u64>,
}

/// The protected resource's answer to a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Accepted, at position `seq` (1, 2, …) of the file.
    Accepted {
        /// The write's line number.
        seq: u64,
    },
    /// Refused: the resource has accepted a write with the newer token `newest`.
    Refused {
        /// The newest token accepted for the resource.
        newest: u64,
    },
}

/// One accepted write: a line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// Its line number: its position in the serial order.
    pub(crate) seq: u64,
    /// The resource written.
    pub(crate) resource: String,
    /// The token the write carried.
    pub(crate) token: u64,
    /// The client that wrote it.
    pub(crate) writer: String,
}

impl Protected {
    /// Opens (creating) the file at `path`.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        Ok(Self {
            file,
            read_to: 0,
            lines: 0,
            newest: BTreeMap::new(),
        })
    }

    /// Writes `token`'s write of `resource` by `writer`, unless a newer token was accepted.
    pub(crate) fn write(
        &mut self,
        resource: &str,
        token: u64,
        writer: &str,
    ) -> io::Result<Written> {
        self.file.lock()?;
        let written = self.write_locked(resource, token, writer);
        // Unlocked whatever happened; a kill unlocks too, by closing the descriptor.
        let unlocked = self.file.unlock();
        let written = written?;
        unlocked?;
        Ok(written)
    }

    fn write_locked(&mut self, resource: &str, token: u64, writer: &str) -> io::Result<Written> {
        self.catch_up()?;
        let newest = self.newest.get(resource).copied().unwrap_or(0);
        if token < newest {
            return Ok(Written::Refused { newest });
        }
        let line = format!("{resource} {token} {writer}\n");
        // One `write` call of a few dozen bytes; the file is in append mode.
        self.file.write_all(line.as_bytes())?;
        self.read_to += line.len() as u64;
        self.lines += 1;
        self.newest.insert(resource.to_owned(), token);
        Ok(Written::Accepted { seq: self.lines })
    }

    /// Reads the lines other workers appended since this one last looked, and cuts off part of
    /// a line a killed writer may have left at the end.
    fn catch_up(&mut self) -> io::Result<()> {
        let mut tail = Vec::new();
        self.file.seek(SeekFrom::Start(self.read_to))?;
        self.file.read_to_end(&mut tail)?;
        let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < tail.len() {
            self.file.set_len(self.read_to + complete as u64)?;
        }
        for line in text(&tail[..complete])?.lines() {
            self.lines += 1;
            let row = parse(self.lines, line)?;
            let newest = self.newest.entry(row.resource).or_insert(0);
            *newest = (*newest).max(row.token);
        }
        self.read_to += complete as u64;
        Ok(())
    }
}

/// Every accepted write in the file at `path`, in serial order (none if there is no file).
pub(crate) fn read_all(path: &Path) -> io::Result<Vec<Row>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // Part of a line at the end was never accepted (see the module's docs).
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let lines = text(&bytes[..complete])?.lines();
    (1..)
        .zip(lines)
        .map(|(seq, line)| parse(seq, line))
        .collect()
}

fn text(bytes: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn parse(seq: u64, line: &str) -> io::Result<Row> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("line {seq}: {line:?}"));
    let [resource, token, writer] = line.split(' ').collect::<Vec<_>>()[..] else {
        return Err(bad());
    };
    Ok(Row {
        seq,
        resource: resource.to_owned(),
        token: token.parse().map_err(|_| bad())?,
        writer: writer.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_tokens_are_refused_and_every_writer_sees_the_others() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("protected");
        let (mut a, mut b) = (
            Protected::open(&path).expect("opens"),
            Protected::open(&path).expect("opens"),
        );
        let write = |p: &mut Protected, resource, token| p.write(resource, token, "w").expect("io");
        assert_eq!(write(&mut a, "r", 5), Written::Accepted { seq: 1 });
        assert_eq!(
            write(&mut b, "r", 5),
            Written::Accepted { seq: 2 },
            "same token"
        );
        assert_eq!(write(&mut b, "r", 4), Written::Refused { newest: 5 });
        assert_eq!(
            write(&mut b, "s", 1),
            Written::Accepted { seq: 3 },
            "another resource"
        );
        assert_eq!(write(&mut a, "r", 7), Written::Accepted { seq: 4 });
        assert_eq!(write(&mut b, "r", 6), Written::Refused { newest: 7 });
        let rows = read_all(&path).expect("readable");
        let tokens: Vec<u64> = rows.iter().map(|row| row.token).collect();
        assert_eq!(tokens, [5, 5, 1, 7]);
        assert_eq!(rows[2].resource, "s");
    }

    #[test]
    fn part_of_a_line_left_by_a_killed_writer_is_cut_off_and_never_counted() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("protected");
        std::fs::write(&path, "r 3 a\nr 9 b").expect("written");
        assert_eq!(read_all(&path).expect("readable").len(), 1);
        let mut c = Protected::open(&path).expect("opens");
        assert_eq!(
            c.write("r", 4, "c").expect("io"),
            Written::Accepted { seq: 2 }
        );
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(text, "r 3 a\nr 4 c\n");
    }
}
