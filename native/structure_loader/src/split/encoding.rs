//! The client encodings a dump may name in `SET client_encoding`, and transcoding
//! from them to UTF-8. PostgreSQL transcodes on the server; we transcode here instead,
//! because the connection always speaks UTF-8, so we must map each byte exactly as the
//! server would and refuse each byte it refuses.

// Generated from the server's own conversions by scripts/encoding-tables.
#[path = "encoding_tables.rs"]
mod tables;

/// A client encoding the splitter can read: UTF-8, SQL_ASCII, or one of PostgreSQL's
/// single-byte encodings, each named as PostgreSQL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, PostgreSQL's `UTF8`: passed through, checked.
    Utf8,
    /// Bytes 0x00-0x7F only are meaningful; like PostgreSQL's SQL_ASCII we pass bytes
    /// through, so the text must still be valid UTF-8 to reach a UTF-8 connection.
    SqlAscii,
    /// `LATIN1`, ISO 8859-1.
    Latin1,
    /// `LATIN2`, ISO 8859-2.
    Latin2,
    /// `LATIN3`, ISO 8859-3.
    Latin3,
    /// `LATIN4`, ISO 8859-4.
    Latin4,
    /// `LATIN5`, ISO 8859-9.
    Latin5,
    /// `LATIN6`, ISO 8859-10.
    Latin6,
    /// `LATIN7`, ISO 8859-13.
    Latin7,
    /// `LATIN8`, ISO 8859-14.
    Latin8,
    /// `LATIN9`, ISO 8859-15.
    Latin9,
    /// `LATIN10`, ISO 8859-16.
    Latin10,
    /// `ISO_8859_5`, Latin/Cyrillic.
    Iso8859_5,
    /// `ISO_8859_6`, Latin/Arabic.
    Iso8859_6,
    /// `ISO_8859_7`, Latin/Greek.
    Iso8859_7,
    /// `ISO_8859_8`, Latin/Hebrew.
    Iso8859_8,
    /// `WIN866`, DOS Cyrillic (code page 866).
    Win866,
    /// `WIN874`, Windows Thai.
    Win874,
    /// `WIN1250`, Windows Central European.
    Win1250,
    /// `WIN1251`, Windows Cyrillic.
    Win1251,
    /// `WIN1252`, Windows Western European.
    Win1252,
    /// `WIN1253`, Windows Greek.
    Win1253,
    /// `WIN1254`, Windows Turkish.
    Win1254,
    /// `WIN1255`, Windows Hebrew.
    Win1255,
    /// `WIN1256`, Windows Arabic.
    Win1256,
    /// `WIN1257`, Windows Baltic.
    Win1257,
    /// `WIN1258`, Windows Vietnamese.
    Win1258,
    /// `KOI8R`, KOI8-R (Russian).
    Koi8R,
    /// `KOI8U`, KOI8-U (Ukrainian).
    Koi8U,
}

impl Encoding {
    /// Looks up a PostgreSQL encoding name or alias as PostgreSQL does: case-insensitively,
    /// ignoring everything but letters and digits (so `ISO-8859-1` is `iso88591`). `None`
    /// for names PostgreSQL does not know and for encodings we cannot transcode.
    pub fn from_pg_name(name: &str) -> Option<Encoding> {
        // PostgreSQL rejects a name of NAMEDATALEN bytes or more before looking at it.
        if name.len() >= 64 {
            return None;
        }
        let key: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        // PostgreSQL's names and aliases for these encodings, no others.
        let encoding = match key.as_str() {
            "utf8" | "unicode" => Encoding::Utf8,
            "sqlascii" => Encoding::SqlAscii,
            "latin1" | "iso88591" => Encoding::Latin1,
            "latin2" | "iso88592" => Encoding::Latin2,
            "latin3" | "iso88593" => Encoding::Latin3,
            "latin4" | "iso88594" => Encoding::Latin4,
            "latin5" | "iso88599" => Encoding::Latin5,
            "latin6" | "iso885910" => Encoding::Latin6,
            "latin7" | "iso885913" => Encoding::Latin7,
            "latin8" | "iso885914" => Encoding::Latin8,
            "latin9" | "iso885915" => Encoding::Latin9,
            "latin10" | "iso885916" => Encoding::Latin10,
            "iso88595" => Encoding::Iso8859_5,
            "iso88596" => Encoding::Iso8859_6,
            "iso88597" => Encoding::Iso8859_7,
            "iso88598" => Encoding::Iso8859_8,
            "win866" | "windows866" | "alt" => Encoding::Win866,
            "win874" | "windows874" => Encoding::Win874,
            "win1250" | "windows1250" => Encoding::Win1250,
            "win1251" | "windows1251" | "win" => Encoding::Win1251,
            "win1252" | "windows1252" => Encoding::Win1252,
            "win1253" | "windows1253" => Encoding::Win1253,
            "win1254" | "windows1254" => Encoding::Win1254,
            "win1255" | "windows1255" => Encoding::Win1255,
            "win1256" | "windows1256" => Encoding::Win1256,
            "win1257" | "windows1257" => Encoding::Win1257,
            "win1258" | "windows1258" | "abc" | "tcvn" | "tcvn5712" | "vscii" => Encoding::Win1258,
            "koi8r" | "koi8" => Encoding::Koi8R,
            "koi8u" => Encoding::Koi8U,
            _ => return None,
        };
        Some(encoding)
    }

    /// PostgreSQL's name for the encoding.
    pub fn pg_name(&self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF8",
            Encoding::SqlAscii => "SQL_ASCII",
            Encoding::Latin1 => "LATIN1",
            Encoding::Latin2 => "LATIN2",
            Encoding::Latin3 => "LATIN3",
            Encoding::Latin4 => "LATIN4",
            Encoding::Latin5 => "LATIN5",
            Encoding::Latin6 => "LATIN6",
            Encoding::Latin7 => "LATIN7",
            Encoding::Latin8 => "LATIN8",
            Encoding::Latin9 => "LATIN9",
            Encoding::Latin10 => "LATIN10",
            Encoding::Iso8859_5 => "ISO_8859_5",
            Encoding::Iso8859_6 => "ISO_8859_6",
            Encoding::Iso8859_7 => "ISO_8859_7",
            Encoding::Iso8859_8 => "ISO_8859_8",
            Encoding::Win866 => "WIN866",
            Encoding::Win874 => "WIN874",
            Encoding::Win1250 => "WIN1250",
            Encoding::Win1251 => "WIN1251",
            Encoding::Win1252 => "WIN1252",
            Encoding::Win1253 => "WIN1253",
            Encoding::Win1254 => "WIN1254",
            Encoding::Win1255 => "WIN1255",
            Encoding::Win1256 => "WIN1256",
            Encoding::Win1257 => "WIN1257",
            Encoding::Win1258 => "WIN1258",
            Encoding::Koi8R => "KOI8R",
            Encoding::Koi8U => "KOI8U",
        }
    }

    /// Whether text in this encoding must be valid UTF-8 already (no transcoding).
    pub(crate) fn is_utf8_passthrough(&self) -> bool {
        matches!(self, Encoding::Utf8 | Encoding::SqlAscii)
    }

    /// What the server makes of bytes 0x80-0xFF (entry 0 is byte 0x80).
    fn high_half(&self) -> &'static [Option<char>; 128] {
        match self {
            Encoding::Utf8 | Encoding::SqlAscii => {
                unreachable!("UTF-8 input is validated, not decoded")
            }
            Encoding::Latin1 => &tables::LATIN1,
            Encoding::Latin2 => &tables::LATIN2,
            Encoding::Latin3 => &tables::LATIN3,
            Encoding::Latin4 => &tables::LATIN4,
            Encoding::Latin5 => &tables::LATIN5,
            Encoding::Latin6 => &tables::LATIN6,
            Encoding::Latin7 => &tables::LATIN7,
            Encoding::Latin8 => &tables::LATIN8,
            Encoding::Latin9 => &tables::LATIN9,
            Encoding::Latin10 => &tables::LATIN10,
            Encoding::Iso8859_5 => &tables::ISO_8859_5,
            Encoding::Iso8859_6 => &tables::ISO_8859_6,
            Encoding::Iso8859_7 => &tables::ISO_8859_7,
            Encoding::Iso8859_8 => &tables::ISO_8859_8,
            Encoding::Win866 => &tables::WIN866,
            Encoding::Win874 => &tables::WIN874,
            Encoding::Win1250 => &tables::WIN1250,
            Encoding::Win1251 => &tables::WIN1251,
            Encoding::Win1252 => &tables::WIN1252,
            Encoding::Win1253 => &tables::WIN1253,
            Encoding::Win1254 => &tables::WIN1254,
            Encoding::Win1255 => &tables::WIN1255,
            Encoding::Win1256 => &tables::WIN1256,
            Encoding::Win1257 => &tables::WIN1257,
            Encoding::Win1258 => &tables::WIN1258,
            Encoding::Koi8R => &tables::KOI8R,
            Encoding::Koi8U => &tables::KOI8U,
        }
    }

    /// Appends `bytes`, decoded from this single-byte encoding, to `out` as UTF-8.
    /// Returns the offset of the first byte the server would refuse, if any (`out` then
    /// holds what came before it).
    pub(crate) fn decode_single_byte(&self, bytes: &[u8], out: &mut String) -> Result<(), usize> {
        let high_half = self.high_half();
        out.reserve(bytes.len());
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            if !byte.is_ascii() {
                out.push(high_half[usize::from(byte - 0x80)].ok_or(at)?);
                at += 1;
            } else if bytes.len() - at >= 8 && is_ascii_word(&bytes[at..at + 8]) {
                // Long ASCII runs, most of any dump, are copied whole; short ones between
                // transcoded letters (spaces, digits) go a byte at a time, which is cheaper.
                let ascii = ascii_prefix(&bytes[at..]);
                out.push_str(std::str::from_utf8(&bytes[at..at + ascii]).expect("ASCII is UTF-8"));
                at += ascii;
            } else {
                out.push(char::from(byte));
                at += 1;
            }
        }
        Ok(())
    }
}

/// Whether all 8 bytes of `word` are ASCII.
fn is_ascii_word(word: &[u8]) -> bool {
    u64::from_ne_bytes(word.try_into().expect("8 bytes")) & 0x8080_8080_8080_8080 == 0
}

/// How many bytes at the start of `bytes` are ASCII, looked at a word at a time.
fn ascii_prefix(bytes: &[u8]) -> usize {
    let words = bytes
        .chunks_exact(8)
        .take_while(|word| is_ascii_word(word))
        .count();
    let rest = &bytes[words * 8..];
    words * 8
        + rest
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoding: &str, bytes: &[u8]) -> Result<String, usize> {
        let mut out = String::new();
        Encoding::from_pg_name(encoding)
            .unwrap()
            .decode_single_byte(bytes, &mut out)
            .map(|()| out)
    }

    #[test]
    fn finds_postgres_names_and_aliases() {
        let found = |name: &str| Encoding::from_pg_name(name);
        assert_eq!(found("UTF8"), Some(Encoding::Utf8));
        assert_eq!(found("utf-8"), Some(Encoding::Utf8));
        assert_eq!(found("Unicode"), Some(Encoding::Utf8));
        assert_eq!(found("SQL_ASCII"), Some(Encoding::SqlAscii));
        assert_eq!(found("LATIN1"), Some(Encoding::Latin1));
        assert_eq!(found("iso_8859_1"), Some(Encoding::Latin1));
        assert_eq!(found("ISO-8859-9"), Some(Encoding::Latin5));
        assert_eq!(found("iso8859-16"), Some(Encoding::Latin10));
        assert_eq!(found("ISO_8859_5"), Some(Encoding::Iso8859_5));
        assert_eq!(found("win1252"), Some(Encoding::Win1252));
        assert_eq!(found("Windows-1252"), Some(Encoding::Win1252));
        assert_eq!(found("WIN"), Some(Encoding::Win1251));
        assert_eq!(found("alt"), Some(Encoding::Win866));
        assert_eq!(found("TCVN5712"), Some(Encoding::Win1258));
        assert_eq!(found("koi8"), Some(Encoding::Koi8R));
        assert_eq!(found("KOI8-U"), Some(Encoding::Koi8U));
        // Names PostgreSQL does not know, and encodings we cannot transcode.
        assert_eq!(found("CP1252"), None);
        assert_eq!(found("latin11"), None);
        assert_eq!(found(&format!("latin1{}", "-".repeat(60))), None);
        assert_eq!(found("EUC_JP"), None);
        assert_eq!(found("SJIS"), None);
    }

    #[test]
    fn each_encoding_has_its_postgres_name() {
        for name in [
            "UTF8",
            "SQL_ASCII",
            "LATIN1",
            "LATIN2",
            "LATIN3",
            "LATIN4",
            "LATIN5",
            "LATIN6",
            "LATIN7",
            "LATIN8",
            "LATIN9",
            "LATIN10",
            "ISO_8859_5",
            "ISO_8859_6",
            "ISO_8859_7",
            "ISO_8859_8",
            "WIN866",
            "WIN874",
            "WIN1250",
            "WIN1251",
            "WIN1252",
            "WIN1253",
            "WIN1254",
            "WIN1255",
            "WIN1256",
            "WIN1257",
            "WIN1258",
            "KOI8R",
            "KOI8U",
        ] {
            assert_eq!(Encoding::from_pg_name(name).unwrap().pg_name(), name);
        }
    }

    #[test]
    fn latin1_maps_every_byte_to_the_same_code_point() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let expected: String = (0..=255u8).map(char::from).collect();
        assert_eq!(decode("LATIN1", &every_byte), Ok(expected));
    }

    #[test]
    fn win1252_maps_as_postgres_does() {
        assert_eq!(
            decode("WIN1252", b"\x93q\x94 \x80 caf\xe9"),
            Ok("\u{201c}q\u{201d} \u{20ac} café".to_owned())
        );
        for refused in [0x81, 0x8d, 0x8f, 0x90, 0x9d] {
            assert_eq!(decode("WIN1252", &[b'a', refused]), Err(1), "{refused:#x}");
        }
    }

    #[test]
    fn koi8u_maps_0xae_and_0xbe_to_box_drawing_as_postgres_does() {
        assert_eq!(
            decode("KOI8U", b"\xae\xbe\xad\xbd"),
            Ok("\u{255d}\u{256c}\u{0491}\u{0490}".to_owned())
        );
    }

    #[test]
    fn c1_bytes_postgres_maps_in_the_iso_encodings_stay_c1_controls() {
        assert_eq!(
            decode("LATIN5", b"\x80\x9f\xd0"),
            Ok("\u{80}\u{9f}\u{11e}".to_owned())
        );
        assert_eq!(
            decode("ISO_8859_5", b"\x85\xb0"),
            Ok("\u{85}\u{410}".to_owned())
        );
    }

    #[test]
    fn ascii_passes_through_around_transcoded_bytes() {
        let long_ascii = "x".repeat(37);
        let mut input = long_ascii.clone().into_bytes();
        input.extend_from_slice(b"\xe0\xe1");
        input.extend_from_slice(long_ascii.as_bytes());
        assert_eq!(
            decode("WIN1251", &input),
            Ok(format!("{long_ascii}аб{long_ascii}"))
        );
        assert_eq!(decode("WIN1251", b""), Ok(String::new()));
    }

    #[test]
    fn refused_bytes_are_reported_with_their_offset() {
        assert_eq!(decode("WIN1253", b"ab\xaa"), Err(2));
        assert_eq!(decode("WIN874", b"\xa1\xdb"), Err(1));
        let mut input = b"0123456789abcdef".repeat(3);
        input.push(0x98);
        assert_eq!(decode("WIN1251", &input), Err(48));
    }
}
