//! The splitter over arbitrary bytes: it never panics, never loops, and whatever it yields
//! is well formed: items in file order, COPY data only inside a COPY block, every COPY
//! block closed, nothing after an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use structure_loader::split::{Item, SplitOptions, Splitter};

/// Hands out at most `step` bytes per read, so that lines straddle the reads.
struct Trickle<'a> {
    rest: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    // The first byte chooses the starting standard_conforming_strings and how much each
    // read returns, so that lines also straddle reads.
    let Some((&knobs, dump)) = input.split_first() else {
        return;
    };
    let options = SplitOptions {
        standard_conforming_strings: knobs & 1 == 0,
    };
    let step = 1 + usize::from(knobs >> 1);
    let reader = Trickle { rest: dump, step };
    let mut splitter = Splitter::new(reader, options);

    let mut last_offset = None;
    // Where the last statement ended: the next one cannot start before.
    let mut last_line = 0;
    let mut in_copy = false;
    while let Some(item) = splitter.next() {
        let item = match item {
            Ok(item) => item,
            Err(error) => {
                assert!(error.location().line >= 1, "{error}");
                assert!(splitter.next().is_none(), "an item after an error");
                return;
            }
        };
        match &item {
            Item::Sql(statement) | Item::CopyStart(statement) => {
                assert!(!in_copy, "a statement inside a COPY block");
                in_copy = matches!(item, Item::CopyStart(_));
                let start = statement.start;
                assert!(start.line >= last_line && start.line >= 1, "{start:?}");
                assert!(statement.end_line >= start.line, "{statement:?}");
                assert!(
                    last_offset.is_none_or(|last| start.byte_offset > last),
                    "statements out of order"
                );
                assert!(start.byte_offset < dump.len() as u64);
                last_offset = Some(start.byte_offset);
                last_line = statement.end_line;
            }
            Item::CopyData(data) => {
                assert!(in_copy, "COPY data outside a COPY block");
                assert!(!data.is_empty());
            }
            Item::CopyEnd { .. } => {
                assert!(in_copy, "COPY end outside a COPY block");
                in_copy = false;
            }
            Item::Meta { location, .. } => {
                assert!(!in_copy, "a meta-command inside a COPY block");
                // A meta-command may come in the middle of a statement, which is yielded
                // once complete, after it.
                assert!(location.line >= last_line);
            }
        }
    }
    assert!(!in_copy, "a COPY block without its end");
    assert_eq!(splitter.bytes_read(), dump.len() as u64, "not all bytes read");
});
