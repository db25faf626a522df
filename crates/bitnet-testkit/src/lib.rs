//! Test support shared by more than one test binary, by `xtask` and by the fuzz targets, so each
//! helper exists once (STYLE.md "Shared test code"; rust-analyzer's `test-utils`).
//!
//! - [`raw`]: little-endian GGUF bytes appended field by field, for malformed inputs spelled out
//!   in code rather than stored as blobs;
//! - [`corpus`]: the hostile GGUF files built with it, and the GGUF fuzz seeds;
//! - [`alloc`]: a counting global allocator and [`alloc::peak_during`];
//! - [`rng`]: splitmix64, the deterministic generator of test data and of fuzz seeds;
//! - `proptest` (feature `proptest`): the one proptest configuration;
//! - [`kernel_input`]: the input codec of the `kernels_diff` fuzz target;
//! - [`weight`]: a ternary weight and the values it must decode to, for tests that build models;
//! - [`fixtures`] and [`third_party`]: the committed GGUF files, embedded.
//!
//! Nothing here needs a file system at run time (the test suites also run on wasm32-wasip1 and
//! under qemu), and nothing here depends on the crates under test. Avoid adding dependencies
//! here: every test binary, xtask and the fuzz targets build this crate.

pub mod alloc;
pub mod corpus;
pub mod fixtures;
pub mod kernel_input;
#[cfg(feature = "proptest")]
pub mod proptest;
pub mod raw;
pub mod rng;
pub mod third_party;
pub mod weight;
