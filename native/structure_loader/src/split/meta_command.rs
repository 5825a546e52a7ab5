//! Meta-commands (`\name args`), parsed as psql's `psqlscanslash.l` does for the few
//! that pg_dump writes. Nothing here runs a program or opens a file.

/// A meta-command as written: its name and arguments, and where its text ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedMeta {
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    /// An argument held a backquoted shell command.
    pub(crate) has_backtick: bool,
    /// Index in the line just past the command (past a closing `\\`, if any).
    pub(crate) end: usize,
}

/// Parses the meta-command whose backslash is at `line[i]`. The command runs to the end
/// of the line, to `\\`, or to the next backslash (which starts another command).
pub(crate) fn parse(line: &[u8], i: usize) -> ParsedMeta {
    let n = line.len();
    let name_end = i
        + 1
        + line[i + 1..]
            .iter()
            .take_while(|&&b| !is_space(b) && b != b'\\')
            .count();
    let name = String::from_utf8_lossy(&line[i + 1..name_end]).into_owned();
    let mut args = Vec::new();
    let mut has_backtick = false;
    let mut j = name_end;
    loop {
        while j < n && is_space(line[j]) {
            j += 1;
        }
        if j >= n {
            break;
        }
        if line[j] == b'\\' {
            if line.get(j + 1) == Some(&b'\\') {
                j += 2;
            }
            break;
        }
        let mut arg = Vec::new();
        while j < n && !is_space(line[j]) && line[j] != b'\\' {
            match line[j] {
                b'\'' => j = single_quoted(line, j + 1, &mut arg),
                b'"' => j = double_quoted(line, j + 1, &mut arg),
                b'`' => {
                    has_backtick = true;
                    j += 1;
                    while j < n && line[j] != b'`' {
                        j += 1;
                    }
                    j += 1;
                }
                b => {
                    arg.push(b);
                    j += 1;
                }
            }
        }
        args.push(String::from_utf8_lossy(&arg).into_owned());
    }
    // psql strips trailing semicolons from these commands' first argument.
    if let Some(first) = args.first_mut() {
        let kept = first.trim_end_matches(';').len();
        first.truncate(kept);
    }
    ParsedMeta {
        name,
        args,
        has_backtick,
        end: j.min(n),
    }
}

/// `'...'` in a meta-command argument: `''` and C-style backslash escapes.
fn single_quoted(line: &[u8], mut j: usize, arg: &mut Vec<u8>) -> usize {
    let n = line.len();
    while j < n {
        match line[j] {
            b'\'' if line.get(j + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                j += 2;
            }
            b'\'' => return j + 1,
            b'\\' if j + 1 < n => {
                let escaped = line[j + 1];
                arg.push(match escaped {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'r' => b'\r',
                    b'f' => 0x0c,
                    other => other,
                });
                j += 2;
            }
            b => {
                arg.push(b);
                j += 1;
            }
        }
    }
    j
}

/// `"..."` in a meta-command argument: `""` is a quote; the quotes themselves go.
fn double_quoted(line: &[u8], mut j: usize, arg: &mut Vec<u8>) -> usize {
    let n = line.len();
    while j < n {
        match line[j] {
            b'"' if line.get(j + 1) == Some(&b'"') => {
                arg.push(b'"');
                j += 2;
            }
            b'"' => return j + 1,
            b => {
                arg.push(b);
                j += 1;
            }
        }
    }
    j
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> ParsedMeta {
        parse(line.as_bytes(), 0)
    }

    #[test]
    fn reads_name_and_arguments_to_end_of_line() {
        let meta = parsed("\\restrict abc123");
        assert_eq!(meta.name, "restrict");
        assert_eq!(meta.args, ["abc123"]);
        assert_eq!(meta.end, 16);
    }

    #[test]
    fn strips_trailing_semicolons_and_quotes() {
        assert_eq!(parsed("\\unrestrict k3;").args, ["k3"]);
        assert_eq!(parsed("\\unrestrict 'k4'").args, ["k4"]);
        assert_eq!(parsed("\\connect \"My\"\"Db\"").args, ["My\"Db"]);
    }

    #[test]
    fn stops_at_double_backslash() {
        let meta = parsed("\\echo a \\\\ SELECT 1;");
        assert_eq!(meta.name, "echo");
        assert_eq!(meta.args, ["a"]);
        assert_eq!(meta.end, 10);
    }

    #[test]
    fn a_lone_backslash_has_an_empty_name() {
        let meta = parsed("\\\\");
        assert_eq!(meta.name, "");
    }

    #[test]
    fn notices_backticks() {
        let meta = parsed("\\restrict `touch /tmp/x`");
        assert!(meta.has_backtick);
    }

    #[test]
    fn extra_arguments_are_kept_separately() {
        assert_eq!(
            parsed("\\unrestrict abc123 extra").args,
            ["abc123", "extra"]
        );
    }
}
