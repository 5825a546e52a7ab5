use crate::error::{ErrorReason, LoadError};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::{Path, PathBuf};

/// How much of the file is read at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// pg_dump writes its version within the first lines; a header longer than this is not
/// a pg_dump header.
const HEADER_MAX_LINES: usize = 64;

/// An opened dump, readable from the start as many times as needed.
///
/// Reading twice from the same open file (not the same path) means both passes see
/// the same bytes even if the path is replaced in between.
pub(crate) struct DumpFile {
    path: PathBuf,
    file: File,
}

impl DumpFile {
    /// Opens `path`, refusing a directory up front (opening one succeeds on Unix).
    pub(crate) fn open(path: &Path) -> Result<DumpFile, LoadError> {
        let file = File::open(path).map_err(|error| LoadError::file(path, &error))?;
        let metadata = file
            .metadata()
            .map_err(|error| LoadError::file(path, &error))?;
        if metadata.is_dir() {
            return Err(LoadError::new(
                ErrorReason::File,
                format!(
                    "cannot read {}: it is a directory, not a dump file",
                    path.display()
                ),
            )
            .in_file(path));
        }
        Ok(DumpFile {
            path: path.to_owned(),
            file,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A buffered reader from the first byte.
    pub(crate) fn reader(&self) -> Result<BufReader<&File>, LoadError> {
        let mut file = &self.file;
        file.rewind()
            .map_err(|error| LoadError::file(&self.path, &error))?;
        Ok(BufReader::with_capacity(READ_BUFFER_BYTES, file))
    }

    /// The version in the header line `-- Dumped by pg_dump version 15.18 (Debian ...)`,
    /// looking only at the leading comments, blank lines and meta-commands.
    pub(crate) fn pg_dump_version(&self) -> Result<Option<String>, LoadError> {
        let mut reader = self.reader()?;
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
        assert!(error.message().contains("is a directory"), "{error}");
    }
}
