//! The committed reference fixtures of `ci/fixtures/qk256/`, embedded with `include_bytes!` so
//! the tests that read them need no file system (they also run under wasm and qemu).
//!
//! This is the one list of the fixture files outside their generator
//! (`bitnet_models::fixtures`, which this crate must not depend on): a new fixture is one more
//! line in the `fixtures!` call below, and this crate's tests fail until it is there.

/// `ALL`, the embedded files, from their names in `ci/fixtures/qk256/`.
macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        /// Every committed fixture, `(file name, bytes)`, in the generator's order.
        pub static ALL: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!("../../../ci/fixtures/qk256/", $name)))),*
        ];
    };
}

fixtures!(
    "qk256_4x256_seed42.gguf",
    "qk256_3x300_seed43.gguf",
    "bitnet32f16_2x64_seed44.gguf",
    "bitnetcpp_4x384_seed45.gguf",
);

/// The committed `checksums.txt` (`<sha256 hex>  <file name>` per fixture, sorted by name).
pub const CHECKSUMS: &str = include_str!("../../../ci/fixtures/qk256/checksums.txt");

/// The committed `expected.json`: every tensor's expected values and the weights' expected
/// matrix products (docs/fixtures.md).
pub const EXPECTED: &str = include_str!("../../../ci/fixtures/qk256/expected.json");

/// The fixtures' directory, relative to the workspace root.
pub const DIR: &str = "ci/fixtures/qk256";

/// The embedded bytes of the fixture named `name`.
///
/// # Panics
///
/// If there is no such fixture: a missing file must fail loudly, never pass silently.
pub fn get(name: &str) -> &'static [u8] {
    ALL.iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, bytes)| bytes)
        .unwrap_or_else(|| panic!("no fixture {name} in bitnet_testkit::fixtures::ALL"))
}

/// The fixtures' file names, in [`ALL`]'s order.
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|&(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_list_every_fixture_and_nothing_else() {
        let mut listed: Vec<&str> = CHECKSUMS
            .lines()
            .map(|l| l.split_once("  ").expect("<hex>  <name>").1)
            .collect();
        listed.sort_unstable();
        let mut names: Vec<&str> = names().collect();
        names.sort_unstable();
        assert_eq!(listed, names);
    }

    #[test]
    fn get_finds_each_fixture() {
        for &(name, bytes) in ALL {
            assert_eq!(get(name), bytes);
            assert_eq!(&bytes[..4], b"GGUF", "{name}");
        }
    }

    #[test]
    #[should_panic(expected = "no fixture nope.gguf")]
    fn get_panics_on_an_unknown_name() {
        get("nope.gguf");
    }

    /// Every `.gguf` of the directory is listed (not under wasm or Miri: no file system there).
    #[test]
    #[cfg(not(any(miri, target_family = "wasm")))]
    fn every_gguf_in_the_directory_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(DIR);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".gguf"))
            .collect();
        on_disk.sort();
        let mut names: Vec<&str> = names().collect();
        names.sort_unstable();
        assert_eq!(on_disk, names, "add each fixture to the fixtures! list");
    }
}
