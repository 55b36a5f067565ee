//! File plumbing: a bounded line reader, tail reading, atomic creation, torn-tail recovery.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::MAX_LINE_BYTES;

/// Read buffer size of [`Lines`]; larger than a line so a full line always fits after compaction.
const READ_CHUNK: usize = 1024 * 1024;

/// What [`Lines::next_line`] found.
#[derive(Debug)]
pub(crate) enum Next<'a> {
    /// A complete line, without its `\n`.
    Line(&'a [u8]),
    /// The input ends with this many bytes after the last `\n` (a torn last line).
    Torn(u64),
    /// A line longer than [`MAX_LINE_BYTES`]; reading stops.
    TooLong,
    /// End of input.
    End,
}

/// Splits a reader into `\n`-terminated lines without unbounded buffering.
#[derive(Debug)]
pub(crate) struct Lines<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(r: R) -> Self {
        Self {
            r,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
            done: false,
        }
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Next<'_>> {
        loop {
            if self.done {
                return Ok(Next::End);
            }
            if let Some(pos) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                if pos >= MAX_LINE_BYTES {
                    self.done = true;
                    return Ok(Next::TooLong);
                }
                let s = self.start;
                self.start += pos + 1;
                return Ok(Next::Line(&self.buf[s..s + pos]));
            }
            let pending = self.end - self.start;
            if pending >= MAX_LINE_BYTES {
                self.done = true;
                return Ok(Next::TooLong);
            }
            if self.eof {
                self.done = true;
                return Ok(if pending > 0 {
                    Next::Torn(pending as u64)
                } else {
                    Next::End
                });
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// What [`Lines::next_block`] found.
#[derive(Debug)]
pub(crate) enum NextBlock {
    /// One or more complete lines, each ending in `\n`.
    Lines(Vec<u8>),
    /// End of input, with this many torn bytes after the last `\n`.
    End(u64),
    /// A line longer than [`MAX_LINE_BYTES`]; reading stops.
    TooLong,
}

impl<R: Read> Lines<R> {
    /// The next run of complete lines (up to the buffer size), for parallel processing.
    pub(crate) fn next_block(&mut self) -> io::Result<NextBlock> {
        loop {
            if self.done {
                return Ok(NextBlock::End(0));
            }
            let avail = &self.buf[self.start..self.end];
            let last_nl = memchr::memrchr(b'\n', avail);
            // A block is handed out only when the buffer is full or the input is exhausted,
            // so blocks stay large.
            if let Some(last) = last_nl
                && (self.eof || self.start > 0 || self.end == self.buf.len())
            {
                let block = avail[..=last].to_vec();
                self.start += last + 1;
                return Ok(NextBlock::Lines(block));
            }
            let pending = self.end - self.start;
            if last_nl.is_none() && pending >= MAX_LINE_BYTES {
                self.done = true;
                return Ok(NextBlock::TooLong);
            }
            if self.eof {
                self.done = true;
                return Ok(NextBlock::End(pending as u64));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The end of an append-only file.
#[derive(Debug)]
pub(crate) struct Tail {
    /// Length up to and including the last `\n` (0 if there is none).
    pub(crate) valid_len: u64,
    /// Bytes after it (a torn last line).
    pub(crate) torn: u64,
    /// The last complete line, without its `\n`, if it fits in [`MAX_LINE_BYTES`].
    pub(crate) last_line: Option<Vec<u8>>,
}

/// Position of the last `\n` strictly before `before`, looking back at most `limit` bytes.
fn rfind_newline(f: &mut File, before: u64, limit: u64) -> io::Result<Option<u64>> {
    const STEP: usize = 64 * 1024;
    let floor = before.saturating_sub(limit);
    let mut hi = before;
    let mut chunk = vec![0u8; STEP];
    while hi > floor {
        let lo = hi.saturating_sub(STEP as u64).max(floor);
        let n = usize::try_from(hi - lo)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        f.seek(SeekFrom::Start(lo))?;
        f.read_exact(&mut chunk[..n])?;
        if let Some(p) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + p as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// Reads the end of `f`: where the last complete line ends and what that line is.
pub(crate) fn read_tail(f: &mut File) -> io::Result<Tail> {
    let len = f.metadata()?.len();
    let Some(nl) = rfind_newline(f, len, u64::MAX)? else {
        return Ok(Tail {
            valid_len: 0,
            torn: len,
            last_line: None,
        });
    };
    let valid_len = nl + 1;
    let start = rfind_newline(f, nl, MAX_LINE_BYTES as u64)?.map_or(0, |p| p + 1);
    let last_line = if nl - start < MAX_LINE_BYTES as u64 {
        let mut line = vec![0u8; usize::try_from(nl - start).unwrap_or(0)];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut line)?;
        Some(line)
    } else {
        None
    };
    Ok(Tail {
        valid_len,
        torn: len - valid_len,
        last_line,
    })
}

/// The first line of `f` (without `\n`), if it has a complete one within [`MAX_LINE_BYTES`].
pub(crate) fn read_first_line(f: &mut File) -> io::Result<Option<Vec<u8>>> {
    f.seek(SeekFrom::Start(0))?;
    let mut lines = Lines::new(f.take(MAX_LINE_BYTES as u64 + 1));
    match lines.next_line()? {
        Next::Line(l) => Ok(Some(l.to_vec())),
        _ => Ok(None),
    }
}

/// Fsyncs a directory so a rename or new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o
}

/// Creates `path` holding exactly `contents`, atomically and durably: write a temp file, fsync,
/// hard-link it into place (fails with `AlreadyExists` instead of replacing), fsync the directory.
pub(crate) fn create_new_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()));
    let result = (|| {
        let mut f = private_options().write(true).create_new(true).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ignored = fs::remove_file(&tmp);
    result?;
    sync_dir(&dir)
}

/// Opens an existing file for appending (and reading its tail).
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    private_options().read(true).append(true).open(path)
}

/// Moves the torn bytes after `valid_len` into a new file beside `path` named
/// `NAME.torn-UNIXSECS[-k]`, then truncates `f` to `valid_len` and fsyncs. Returns the new file.
pub(crate) fn set_aside_torn(f: &mut File, path: &Path, valid_len: u64) -> io::Result<PathBuf> {
    let len = f.metadata()?.len();
    let mut torn = Vec::new();
    f.seek(SeekFrom::Start(valid_len))?;
    f.take(len - valid_len).read_to_end(&mut torn)?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = parent_dir(path);
    let mut k = 0u32;
    let aside = loop {
        let candidate = if k == 0 {
            dir.join(format!("{name}.torn-{secs}"))
        } else {
            dir.join(format!("{name}.torn-{secs}-{k}"))
        };
        match create_new_atomic(&candidate, &torn) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 1000 => k += 1,
            Err(e) => return Err(e),
        }
    };
    f.set_len(valid_len)?;
    f.sync_all()?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8]) -> (Vec<Vec<u8>>, String) {
        let mut l = Lines::new(data);
        let mut out = Vec::new();
        loop {
            match l.next_line().unwrap() {
                Next::Line(x) => out.push(x.to_vec()),
                Next::Torn(n) => return (out, format!("torn {n}")),
                Next::TooLong => return (out, "too long".into()),
                Next::End => return (out, "end".into()),
            }
        }
    }

    #[test]
    fn lines_reports_torn_and_too_long() {
        assert_eq!(
            collect(b"a\nbc\n"),
            (vec![b"a".to_vec(), b"bc".to_vec()], "end".into())
        );
        assert_eq!(collect(b"a\nbc"), (vec![b"a".to_vec()], "torn 2".into()));
        let mut big = vec![b'x'; MAX_LINE_BYTES + 10];
        big.push(b'\n');
        assert_eq!(collect(&big).1, "too long");
        // Many lines spanning several read chunks.
        let data: Vec<u8> = (0..300_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let (lines, end) = collect(&data);
        assert_eq!(lines.len(), 300_000);
        assert_eq!(lines[299_999], b"299999");
        assert_eq!(end, "end");
    }

    #[test]
    fn blocks_hold_whole_lines_across_reads() {
        // A reader that returns at most 1000 bytes per read (like a pipe).
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut data: Vec<u8> = (0..400_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        data.extend_from_slice(b"torn");
        let mut l = Lines::new(Slow(&data));
        let mut joined = Vec::new();
        let torn = loop {
            match l.next_block().unwrap() {
                NextBlock::Lines(b) => {
                    assert_eq!(b.last(), Some(&b'\n'));
                    joined.extend_from_slice(&b);
                }
                NextBlock::End(t) => break t,
                NextBlock::TooLong => panic!("too long"),
            }
        };
        assert_eq!(torn, 4);
        assert_eq!(joined, data[..data.len() - 4]);
    }

    #[test]
    fn tail_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        create_new_atomic(&p, b"one\ntwo\nthr").unwrap();
        assert!(create_new_atomic(&p, b"x").is_err(), "never replaces");
        let mut f = open_append(&p).unwrap();
        let t = read_tail(&mut f).unwrap();
        assert_eq!((t.valid_len, t.torn), (8, 3));
        assert_eq!(t.last_line.as_deref(), Some(&b"two"[..]));
        assert_eq!(
            read_first_line(&mut f).unwrap().as_deref(),
            Some(&b"one"[..])
        );
        let aside = set_aside_torn(&mut f, &p, t.valid_len).unwrap();
        assert_eq!(fs::read(&aside).unwrap(), b"thr");
        assert_eq!(fs::read(&p).unwrap(), b"one\ntwo\n");
    }
}
