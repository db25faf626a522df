//! Arrays of strings: the reader validates them as one run (the fast path) or one by one, and
//! both must agree with validating each string on its own with the standard library.

use bitnet_gguf::{Gguf, GgufError, Value};
use bitnet_testkit::raw::Raw;
use proptest::prelude::*;

/// A file with one key `k`, a STRING array of `items` (raw bytes, valid UTF-8 or not).
fn string_array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(8).u64(items.len() as u64);
    for item in items {
        r.str(item);
    }
    r.build()
}

/// The strings of `k`, as the reader hands them out.
fn read(bytes: &[u8]) -> Result<Vec<String>, GgufError> {
    let g = Gguf::parse(bytes)?;
    let Some(Value::Array(a)) = g.get("k") else {
        panic!("no array");
    };
    Ok(a.strings().unwrap().map(str::to_owned).collect())
}

#[test]
fn long_strings_take_the_slow_path_and_read_back() {
    // 200 bytes: the length's low byte is 0xC8, not ASCII, so the run is validated string by
    // string; the strings are valid and must read back.
    let long = "é".repeat(100);
    let items = vec![b"a".to_vec(), long.clone().into_bytes(), b"b".to_vec()];
    assert_eq!(read(&string_array(&items)).unwrap(), ["a", &long, "b"]);
}

#[test]
fn a_sequence_split_across_two_strings_is_invalid() {
    // "é" is C3 A9: cut between two strings, each half is invalid on its own.
    let items = vec![b"x\xC3".to_vec(), b"\xA9y".to_vec()];
    let bytes = string_array(&items);
    // The second string's bytes start after the first string (8 + 2) and its length (8).
    let first = 24 + 8 + 1 + 4 + 4 + 8;
    assert_eq!(
        read(&bytes),
        Err(GgufError::InvalidUtf8 {
            what: "string value",
            offset: (first + 8) as u64
        })
    );
}

#[test]
fn an_invalid_string_after_long_ones_is_named() {
    let long = "a".repeat(300);
    let items = vec![long.into_bytes(), b"ok".to_vec(), b"\xFF".to_vec()];
    let bytes = string_array(&items);
    let third = 24 + 8 + 1 + 4 + 4 + 8 + (8 + 300) + (8 + 2) + 8;
    assert_eq!(
        read(&bytes),
        Err(GgufError::InvalidUtf8 {
            what: "string value",
            offset: third as u64
        })
    );
}

proptest! {
    // 256 cases (proptest's default); `PROPTEST_CASES` overrides.
    #![proptest_config(bitnet_testkit::proptest::config(256))]

    /// Any strings: the file reads exactly when every string is UTF-8, and then reads back the
    /// same strings; otherwise the error names the first invalid one.
    #[test]
    fn reads_exactly_the_valid_strings(
        items in prop::collection::vec(
            prop_oneof![
                ".{0,8}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..6),
                ".{120,140}".prop_map(String::into_bytes),
            ],
            0..12,
        )
    ) {
        let bytes = string_array(&items);
        let first_bad = items.iter().position(|s| std::str::from_utf8(s).is_err());
        match (read(&bytes), first_bad) {
            (Ok(strings), None) => {
                let want: Vec<String> =
                    items.iter().map(|s| String::from_utf8(s.clone()).unwrap()).collect();
                prop_assert_eq!(strings, want);
            }
            (Err(GgufError::InvalidUtf8 { offset, .. }), Some(bad)) => {
                let start = 24 + 8 + 1 + 4 + 4 + 8
                    + items[..bad].iter().map(|s| 8 + s.len()).sum::<usize>()
                    + 8;
                prop_assert_eq!(offset, start as u64);
            }
            (got, bad) => prop_assert!(false, "{:?} with first invalid {:?}", got, bad),
        }
    }
}

#[test]
fn a_length_byte_cannot_complete_the_string_before_it() {
    // "\xE2" alone is invalid; followed by the length 0x8182 (bytes 82 81 00 …) it would read
    // as E2 82 81, a valid U+2081, if the run were validated with that length in it. A length
    // byte of 0x80 or above must send the run to the string-by-string path, which names the
    // first string.
    let items = vec![b"\xE2".to_vec(), vec![b'a'; 0x8182]];
    let bytes = string_array(&items);
    let first = 24 + 8 + 1 + 4 + 4 + 8;
    assert_eq!(
        read(&bytes),
        Err(GgufError::InvalidUtf8 {
            what: "string value",
            offset: (first + 8) as u64
        })
    );
    // The same lengths with a valid first string read back.
    let items = vec![b"\xE2\x82\x81".to_vec(), vec![b'a'; 0x8182]];
    let want = ["\u{2081}".to_owned(), "a".repeat(0x8182)];
    assert_eq!(read(&string_array(&items)).unwrap(), want);
}
