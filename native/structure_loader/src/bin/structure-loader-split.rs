//! Dry run: prints what StructureLoader would do with a pg_dump file, one JSON object
//! per line, without touching a database.
//!
//! ```text
//! structure-loader-split FILE
//! {"kind":"sql","line":12,"text":"SET statement_timeout = 0;"}
//! {"kind":"copy","line":40,"text":"COPY public.t (a) FROM stdin;","rows":3}
//! {"kind":"meta","line":5,"text":"\\restrict KEY"}
//! ```
//! A file that cannot be split prints `FILE:LINE:COLUMN: message` on stderr and exits 1.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use structure_loader::split::{Item, MetaCommand, SplitOptions, Splitter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: structure-loader-split FILE");
        return ExitCode::from(2);
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("{path}: cannot open: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut copy: Option<(u64, String)> = None;
    for item in Splitter::new(file, SplitOptions::default()) {
        let line = match item {
            Err(error) => {
                let _ = out.flush();
                eprintln!("{path}:{error}");
                return ExitCode::FAILURE;
            }
            Ok(Item::Sql(statement)) => {
                format!(
                    r#"{{"kind":"sql","line":{},"text":{}}}"#,
                    statement.start.line,
                    json_string(&statement.text)
                )
            }
            Ok(Item::CopyStart(statement)) => {
                copy = Some((statement.start.line, statement.text));
                continue;
            }
            Ok(Item::CopyData(_)) => continue,
            Ok(Item::CopyEnd { rows, .. }) => {
                let (line, text) = copy.take().expect("CopyEnd follows CopyStart");
                format!(
                    r#"{{"kind":"copy","line":{line},"text":{},"rows":{rows}}}"#,
                    json_string(&text)
                )
            }
            Ok(Item::Meta { command, location }) => {
                let text = match command {
                    MetaCommand::Restrict { key } => format!("\\restrict {key}"),
                    MetaCommand::Unrestrict { key } => format!("\\unrestrict {key}"),
                    MetaCommand::Connect {
                        dbname: Some(dbname),
                    } => format!("\\connect {dbname}"),
                    MetaCommand::Connect { dbname: None } => "\\connect".to_string(),
                };
                format!(
                    r#"{{"kind":"meta","line":{},"text":{}}}"#,
                    location.line,
                    json_string(&text)
                )
            }
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn json_string(text: &str) -> String {
    let mut json = String::with_capacity(text.len() + 2);
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if (c as u32) < 0x20 => json.push_str(&format!("\\u{:04x}", c as u32)),
            c => json.push(c),
        }
    }
    json.push('"');
    json
}
