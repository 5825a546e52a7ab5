/// A position in the input file: 1-based line and column (in characters), and the
/// 0-based byte offset from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// 0-based offset in bytes from the start of the file.
    pub byte_offset: u64,
}

impl Location {
    /// The location at `line`:`column`, `byte_offset` bytes into the file.
    pub fn new(line: u64, column: u64, byte_offset: u64) -> Self {
        Location {
            line,
            column,
            byte_offset,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}
