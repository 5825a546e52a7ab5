//! Properties of the splitter over generated input: it never panics, and it never
//! loses, alters or reorders statement text.

use proptest::prelude::*;
use structure_loader::split::{Item, SplitOptions, Splitter};

/// Bytes that exercise every lexer rule, mixed with arbitrary ones.
fn sql_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop::sample::select(
        b"';\"$()-/*\\\n\r \tEeUu&BbXxNn_19:beginBEGINcaseENDendcreatefunction".to_vec(),
    );
    prop::collection::vec(prop_oneof![4 => interesting, 1 => any::<u8>()], 0..400)
}

/// A statement body made of fragments psql must not split inside.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}".prop_filter("not a routine keyword", |word| ![
            "create", "begin", "end", "case"
        ]
        .contains(&word.as_str())),
        "[0-9]{1,4}",
        "[a-z ;\\\\]{0,10}".prop_map(|s| format!("'{}'", s.replace('\\', "").replace('\'', "''"))),
        "[a-z ;']{0,10}".prop_map(|s| format!("E'{}'", s.replace('\'', "\\'"))),
        "[a-z ;\"]{0,10}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
        "[a-z ;']{0,10}".prop_map(|s| format!("$${s}$$")),
        "[a-z ;$']{0,10}".prop_map(|s| format!("$q$ {} $q$", s.replace("$q", "$ q"))),
        "[a-z ;]{0,10}".prop_map(|s| format!("/* {s} /* nested; */ */")),
        "[a-z ;]{0,10}".prop_map(|s| format!("({s})")),
        "[a-z ;]{0,10}".prop_map(|s| format!("-- {s}\n")),
        Just("+".to_string()),
        Just(",".to_string()),
    ]
}

fn statement() -> impl Strategy<Value = String> {
    ("[A-Z]{1,8}", prop::collection::vec(fragment(), 0..8)).prop_map(|(first, rest)| {
        let mut text = first;
        for piece in rest {
            text.push(' ');
            text.push_str(&piece);
        }
        text.push(';');
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_stop_after_an_error(input in sql_ish_bytes()) {
        let mut splitter = Splitter::new(&input[..], SplitOptions::default());
        let mut last_offset = None;
        while let Some(item) = splitter.next() {
            match item {
                Err(_) => {
                    prop_assert!(splitter.next().is_none());
                    break;
                }
                Ok(Item::Sql(statement)) | Ok(Item::CopyStart(statement)) => {
                    let offset = statement.start.byte_offset;
                    prop_assert!(last_offset.is_none_or(|last| offset > last), "reordered");
                    last_offset = Some(offset);
                    // Up to its first line break or escape, the text is the file's text.
                    let head: String = statement.text.chars().take_while(|&c| c != '\n' && c != ';' && c != ':').collect();
                    let at = offset as usize;
                    prop_assert!(input[at..].starts_with(head.as_bytes()), "text not from offset {at}: {head:?}");
                }
                Ok(_) => {}
            }
        }
    }

    #[test]
    fn generated_statements_come_back_exactly(
        statements in prop::collection::vec(statement(), 1..12),
        separators in prop::collection::vec(prop::sample::select(vec![" ", "\n", "\n\n", "\n-- note\n", "\r\n"]), 12),
    ) {
        let mut input = String::new();
        for (statement, separator) in statements.iter().zip(&separators) {
            input.push_str(statement);
            input.push_str(separator);
        }
        let texts: Vec<String> = Splitter::new(input.as_bytes(), SplitOptions::default())
            .map(|item| match item.unwrap() {
                Item::Sql(statement) => statement.text,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        prop_assert_eq!(texts, statements);
    }
}
