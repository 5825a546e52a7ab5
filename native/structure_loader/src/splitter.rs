use crate::item::Item;
use crate::split_error::SplitError;
use std::io::BufRead;

/// How the session starts out, as far as splitting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitOptions {
    /// The server's `standard_conforming_strings` when the file starts (on by default
    /// since PostgreSQL 9.1).
    pub standard_conforming_strings: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            standard_conforming_strings: true,
        }
    }
}

/// Reads a plain-format dump and yields, in file order, what psql would do with it.
/// After an error it yields nothing more.
pub struct Splitter<R> {
    reader: R,
    options: SplitOptions,
}

impl<R: BufRead> Splitter<R> {
    pub fn new(reader: R, options: SplitOptions) -> Self {
        Splitter { reader, options }
    }
}

impl<R: BufRead> Iterator for Splitter<R> {
    type Item = Result<Item, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        let _ = (&mut self.reader, self.options);
        unimplemented!("splitter under construction")
    }
}
