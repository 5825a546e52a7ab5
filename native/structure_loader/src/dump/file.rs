//! The dump file: opened once, refused unless it is a regular file, read from the start
//! as many times as needed, and checked not to have changed since it was opened.

use crate::error::{ErrorReason, LoadError};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Take};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// pg_dump writes its version within the first lines; a header longer than this is not
/// a pg_dump header.
const HEADER_MAX_LINES: usize = 64;
const HEADER_MAX_BYTES: u64 = 64 * 1024;

/// An opened dump, readable from the start as many times as needed.
///
/// Reading twice from the same open file (not the same path) means both passes see
/// the same file even if the path is replaced in between (as `git pull` replaces it);
/// [`DumpFile::unchanged`] tells whether the file itself was written to.
pub(crate) struct DumpFile {
    path: PathBuf,
    file: File,
    /// The file as it was when opened.
    opened: FileState,
}

/// What changes when a file is written to, truncated or appended to: its size, and its
/// inode's change time, which every write moves forward and no one can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileState {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileState {
    fn of(metadata: &Metadata) -> FileState {
        FileState {
            size: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

impl DumpFile {
    /// Opens `path` if it is a regular file (or a symbolic link to one). Anything else is
    /// refused before it is opened for reading: opening a FIFO would wait for a writer,
    /// and a device could be read forever. The file is opened without waiting all the
    /// same, in case the path changes in between, and checked again once open.
    pub(crate) fn open(path: &Path) -> Result<DumpFile, LoadError> {
        let metadata = std::fs::metadata(path).map_err(|error| LoadError::file(path, &error))?;
        refuse_unless_regular(path, &metadata)?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| LoadError::file(path, &error))?;
        let opened = file
            .metadata()
            .map_err(|error| LoadError::file(path, &error))?;
        refuse_unless_regular(path, &opened)?;
        Ok(DumpFile {
            path: path.to_owned(),
            file,
            opened: FileState::of(&opened),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A reader from the first byte, of at most `limit` bytes (`None`: to the end).
    pub(crate) fn reader(&self, limit: Option<u64>) -> Result<Take<&File>, LoadError> {
        let mut file = &self.file;
        file.rewind()
            .map_err(|error| LoadError::file(&self.path, &error))?;
        Ok(file.take(limit.unwrap_or(u64::MAX)))
    }

    /// Fails unless the file is as it was when opened, and the pass that checked it and
    /// the pass that sent it both read all of it (`checked_bytes`, `sent_bytes`).
    pub(crate) fn unchanged(&self, checked_bytes: u64, sent_bytes: u64) -> Result<(), LoadError> {
        let now = FileState::of(
            &self
                .file
                .metadata()
                .map_err(|error| LoadError::file(&self.path, &error))?,
        );
        let size = self.opened.size;
        let what = if now.size < size || checked_bytes < size || sent_bytes < checked_bytes {
            format!(
                "it was cut short ({size} bytes when opened, {} now)",
                now.size
            )
        } else if now.size > size || checked_bytes > size {
            format!("it grew ({size} bytes when opened, {} now)", now.size)
        } else if now != self.opened {
            "it was written to".to_owned()
        } else {
            return Ok(());
        };
        Err(LoadError::new(
            ErrorReason::File,
            format!(
                "the file changed while it was being loaded: {what}; nothing of it was \
                 committed. Load it again once it stays put"
            ),
        )
        .in_file(&self.path))
    }

    /// The version in the header line `-- Dumped by pg_dump version 15.18 (Debian ...)`,
    /// looking only at the leading comments, blank lines and meta-commands.
    pub(crate) fn pg_dump_version(&self) -> Result<Option<String>, LoadError> {
        let mut reader = BufReader::new(self.reader(Some(HEADER_MAX_BYTES))?);
        let mut line = Vec::new();
        for _ in 0..HEADER_MAX_LINES {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|error| LoadError::file(&self.path, &error))?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_start_matches('\u{feff}').trim();
            if let Some(version) = text.strip_prefix("-- Dumped by pg_dump version ") {
                return Ok(Some(version.trim().to_owned()));
            }
            let in_header = text.is_empty() || text.starts_with("--") || text.starts_with('\\');
            if read == 0 || !in_header {
                break;
            }
        }
        Ok(None)
    }
}

fn refuse_unless_regular(path: &Path, metadata: &Metadata) -> Result<(), LoadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "something other than a file"
        }
    };
    Err(LoadError::new(
        ErrorReason::File,
        format!(
            "cannot read {}: it is {what}, not a regular file",
            path.display()
        ),
    )
    .in_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_dump(name: &str, content: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("sl-dump-file-{}-{name}", std::process::id()));
        File::create(&path).unwrap().write_all(content).unwrap();
        path
    }

    #[test]
    fn reads_the_pg_dump_version_from_the_header() {
        let path = temp_dump(
            "header.sql",
            b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n-- Dumped from database version 18.4\n-- Dumped by pg_dump version 18.4 (Debian 18.4-1)\n\nSET x = 1;\n",
        );
        let dump = DumpFile::open(&path).unwrap();
        assert_eq!(
            dump.pg_dump_version().unwrap().as_deref(),
            Some("18.4 (Debian 18.4-1)")
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn no_version_after_the_header_ends() {
        let path = temp_dump(
            "late.sql",
            b"CREATE TABLE t (id int);\n-- Dumped by pg_dump version 15.18\n",
        );
        assert_eq!(
            DumpFile::open(&path).unwrap().pg_dump_version().unwrap(),
            None
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_fifo_and_a_device_are_refused_without_waiting_for_them() {
        let fifo = std::env::temp_dir().join(format!("sl-dump-file-{}-fifo", std::process::id()));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO that no one writes to would wait forever.
        let error = DumpFile::open(&fifo).err().unwrap();
        std::fs::remove_file(&fifo).unwrap();
        assert_eq!(error.reason(), ErrorReason::File);
        assert!(
            error
                .message()
                .ends_with("it is a FIFO (named pipe), not a regular file"),
            "{error}"
        );

        let error = DumpFile::open(Path::new("/dev/zero")).err().unwrap();
        assert!(
            error
                .message()
                .ends_with("it is a device, not a regular file"),
            "{error}"
        );
    }

    #[test]
    fn a_file_written_to_after_it_was_opened_is_found_changed() {
        let path = temp_dump("changed.sql", b"SELECT 1;\nSELECT 2;\n");
        let dump = DumpFile::open(&path).unwrap();
        assert!(dump.unchanged(20, 20).is_ok());
        // The same size, other bytes: only the inode's change time tells.
        std::fs::write(&path, b"SELECT 3;\nSELECT 4;\n").unwrap();
        let error = dump.unchanged(20, 20).err().unwrap();
        assert_eq!(error.reason(), ErrorReason::File);
        assert_eq!(error.message(), "the file changed while it was being loaded: it was written to; nothing of it was committed. Load it again once it stays put");
        std::fs::write(&path, b"SELECT 1;\n").unwrap();
        let error = dump.unchanged(20, 10).err().unwrap();
        assert!(
            error
                .message()
                .contains("it was cut short (20 bytes when opened, 10 now)"),
            "{error}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_missing_file_and_a_directory_are_file_errors() {
        let missing = Path::new("/nonexistent/structure.sql");
        let error = DumpFile::open(missing).err().unwrap();
        assert_eq!(error.reason(), ErrorReason::File);
        assert_eq!(error.path(), Some(missing));
        assert!(
            error.message().contains("No such file or directory"),
            "{error}"
        );

        let error = DumpFile::open(&std::env::temp_dir()).err().unwrap();
        assert_eq!(error.reason(), ErrorReason::File);
        assert!(
            error
                .message()
                .ends_with("it is a directory, not a regular file"),
            "{error}"
        );
    }
}
