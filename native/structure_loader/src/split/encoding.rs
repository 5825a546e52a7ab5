//! The client encodings a dump may name in `SET client_encoding`, and transcoding
//! from them to UTF-8. PostgreSQL transcodes on the server; we transcode here instead,
//! because the connection always speaks UTF-8.

/// A client encoding the splitter can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, PostgreSQL's `UTF8`: passed through, checked.
    Utf8,
    /// Bytes 0x00-0x7F only are meaningful; like PostgreSQL's SQL_ASCII we pass bytes
    /// through, so the text must still be valid UTF-8 to reach a UTF-8 connection.
    SqlAscii,
    /// ISO 8859-1 (PostgreSQL `LATIN1`).
    Latin1,
    /// ISO 8859-9 (PostgreSQL `LATIN5`).
    Latin5,
    /// Any other single-byte encoding, decoded by its WHATWG definition.
    SingleByte(&'static encoding_rs::Encoding, &'static str),
}

impl Encoding {
    /// Looks up a PostgreSQL encoding name or alias, case-insensitively, ignoring `-`
    /// and `_` as PostgreSQL does. `None` for encodings we cannot transcode.
    pub fn from_pg_name(name: &str) -> Option<Encoding> {
        let key: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let single =
            |e: &'static encoding_rs::Encoding, pg: &'static str| Some(Encoding::SingleByte(e, pg));
        match key.as_str() {
            "utf8" | "unicode" => Some(Encoding::Utf8),
            "sqlascii" => Some(Encoding::SqlAscii),
            "latin1" | "iso88591" => Some(Encoding::Latin1),
            "latin5" | "iso88599" => Some(Encoding::Latin5),
            "latin2" | "iso88592" => single(encoding_rs::ISO_8859_2, "LATIN2"),
            "latin3" | "iso88593" => single(encoding_rs::ISO_8859_3, "LATIN3"),
            "latin4" | "iso88594" => single(encoding_rs::ISO_8859_4, "LATIN4"),
            "latin6" | "iso885910" => single(encoding_rs::ISO_8859_10, "LATIN6"),
            "latin7" | "iso885913" => single(encoding_rs::ISO_8859_13, "LATIN7"),
            "latin8" | "iso885914" => single(encoding_rs::ISO_8859_14, "LATIN8"),
            "latin9" | "iso885915" => single(encoding_rs::ISO_8859_15, "LATIN9"),
            "latin10" | "iso885916" => single(encoding_rs::ISO_8859_16, "LATIN10"),
            "iso88595" => single(encoding_rs::ISO_8859_5, "ISO_8859_5"),
            "iso88596" => single(encoding_rs::ISO_8859_6, "ISO_8859_6"),
            "iso88597" => single(encoding_rs::ISO_8859_7, "ISO_8859_7"),
            "iso88598" => single(encoding_rs::ISO_8859_8, "ISO_8859_8"),
            "win866" | "alt" | "cp866" => single(encoding_rs::IBM866, "WIN866"),
            "win874" | "cp874" => single(encoding_rs::WINDOWS_874, "WIN874"),
            "win1250" | "cp1250" => single(encoding_rs::WINDOWS_1250, "WIN1250"),
            "win1251" | "win" | "cp1251" => single(encoding_rs::WINDOWS_1251, "WIN1251"),
            "win1252" | "cp1252" => single(encoding_rs::WINDOWS_1252, "WIN1252"),
            "win1253" | "cp1253" => single(encoding_rs::WINDOWS_1253, "WIN1253"),
            "win1254" | "cp1254" => single(encoding_rs::WINDOWS_1254, "WIN1254"),
            "win1255" | "cp1255" => single(encoding_rs::WINDOWS_1255, "WIN1255"),
            "win1256" | "cp1256" => single(encoding_rs::WINDOWS_1256, "WIN1256"),
            "win1257" | "cp1257" => single(encoding_rs::WINDOWS_1257, "WIN1257"),
            "win1258" | "abc" | "tcvn" | "tcvn5712" | "vscii" | "cp1258" => {
                single(encoding_rs::WINDOWS_1258, "WIN1258")
            }
            "koi8r" | "koi8" => single(encoding_rs::KOI8_R, "KOI8R"),
            "koi8u" => single(encoding_rs::KOI8_U, "KOI8U"),
            _ => None,
        }
    }

    /// PostgreSQL's name for the encoding.
    pub fn pg_name(&self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF8",
            Encoding::SqlAscii => "SQL_ASCII",
            Encoding::Latin1 => "LATIN1",
            Encoding::Latin5 => "LATIN5",
            Encoding::SingleByte(_, name) => name,
        }
    }

    /// Whether text in this encoding must be valid UTF-8 already (no transcoding).
    pub(crate) fn is_utf8_passthrough(&self) -> bool {
        matches!(self, Encoding::Utf8 | Encoding::SqlAscii)
    }

    /// Appends `bytes`, decoded from this single-byte encoding, to `out` as UTF-8.
    /// Returns the offset of the first byte with no mapping, if any.
    pub(crate) fn decode_single_byte(&self, bytes: &[u8], out: &mut String) -> Result<(), usize> {
        match self {
            Encoding::Utf8 | Encoding::SqlAscii => {
                unreachable!("UTF-8 input is validated, not decoded")
            }
            Encoding::Latin1 => {
                out.extend(bytes.iter().map(|&b| char::from(b)));
                Ok(())
            }
            Encoding::Latin5 => {
                // ISO 8859-9 differs from windows-1254 only in 0x80-0x9F (C1 controls).
                for (i, &b) in bytes.iter().enumerate() {
                    if (0x80..0xA0).contains(&b) {
                        out.push(char::from(b));
                    } else {
                        decode_byte(encoding_rs::WINDOWS_1254, b, out).map_err(|()| i)?;
                    }
                }
                Ok(())
            }
            Encoding::SingleByte(encoding, _) => {
                let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
                if had_errors {
                    let mut scratch = String::new();
                    for (i, &b) in bytes.iter().enumerate() {
                        decode_byte(encoding, b, &mut scratch).map_err(|()| i)?;
                    }
                }
                out.push_str(&text);
                Ok(())
            }
        }
    }
}

fn decode_byte(
    encoding: &'static encoding_rs::Encoding,
    byte: u8,
    out: &mut String,
) -> Result<(), ()> {
    let bytes = [byte];
    let (text, had_errors) = encoding.decode_without_bom_handling(&bytes);
    if had_errors {
        return Err(());
    }
    out.push_str(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_postgres_names_and_aliases() {
        assert_eq!(Encoding::from_pg_name("UTF8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_pg_name("utf-8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_pg_name("LATIN1"), Some(Encoding::Latin1));
        assert_eq!(Encoding::from_pg_name("iso_8859_1"), Some(Encoding::Latin1));
        assert_eq!(
            Encoding::from_pg_name("win1252").unwrap().pg_name(),
            "WIN1252"
        );
        assert_eq!(Encoding::from_pg_name("EUC_JP"), None);
    }

    #[test]
    fn latin1_maps_every_byte_to_the_same_code_point() {
        let mut out = String::new();
        Encoding::Latin1
            .decode_single_byte(b"caf\xe9 \x85", &mut out)
            .unwrap();
        assert_eq!(out, "café \u{85}");
    }

    #[test]
    fn win1252_maps_the_c1_range_to_punctuation() {
        let mut out = String::new();
        let win1252 = Encoding::from_pg_name("WIN1252").unwrap();
        win1252
            .decode_single_byte(b"\x93q\x94 \x80", &mut out)
            .unwrap();
        assert_eq!(out, "\u{201c}q\u{201d} \u{20ac}");
    }

    #[test]
    fn unmapped_bytes_are_reported_with_their_offset() {
        let mut out = String::new();
        let win1253 = Encoding::from_pg_name("WIN1253").unwrap();
        assert_eq!(win1253.decode_single_byte(b"ab\xaa", &mut out), Err(2));
    }
}
