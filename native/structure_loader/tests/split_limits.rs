//! What bounds the splitter whatever it is given: a line or COPY row longer than
//! PostgreSQL takes is an error at its start, reached in bounded memory, and reading stops
//! when asked to. (Each endless input here makes the splitter hold up to 1 GB.)

use std::io::Read;
use structure_loader::split::{Item, SplitErrorKind, SplitOptions, Splitter};

/// `prefix`, then `byte` forever.
fn endless(prefix: &'static [u8], byte: u8) -> impl Read {
    prefix.chain(std::io::repeat(byte))
}

#[test]
fn an_endless_line_is_an_error_at_its_start_once_it_passes_1_gb() {
    let mut splitter = Splitter::new(
        endless(b"SELECT 1;\nSELECT '", b'x'),
        SplitOptions::default(),
    );
    assert!(matches!(splitter.next(), Some(Ok(Item::Sql(_)))));
    let error = splitter.next().unwrap().unwrap_err();
    assert_eq!(error.kind(), SplitErrorKind::TooLong);
    assert_eq!((error.location().line, error.location().column), (2, 1));
    assert!(
        error.message().contains("longer than 1073741823 bytes"),
        "{error}"
    );
    assert!(splitter.bytes_read() <= (1 << 30) + 64);
}

#[test]
fn an_endless_copy_row_is_an_error_at_its_start_once_it_passes_1_gb() {
    let mut splitter = Splitter::new(
        endless(b"COPY t FROM stdin;\n1\n2\t", b'x'),
        SplitOptions::default(),
    );
    assert!(matches!(splitter.next(), Some(Ok(Item::CopyStart(_)))));
    let error = splitter.find_map(|item| item.err()).expect("an error");
    assert_eq!(error.kind(), SplitErrorKind::TooLong);
    assert_eq!((error.location().line, error.location().column), (3, 1));
}

#[test]
fn reading_stops_when_the_interrupt_says_so() {
    let mut blocks = 0;
    let splitter = Splitter::new(
        endless(b"COPY t FROM stdin;\n", b'\n'),
        SplitOptions::default(),
    )
    .interrupt_when(move || {
        blocks += 1;
        blocks > 3
    });
    let error = splitter
        .filter_map(|item| item.err())
        .next()
        .expect("an error");
    assert_eq!(error.kind(), SplitErrorKind::Interrupted);
}
