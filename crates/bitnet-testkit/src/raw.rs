//! Raw little-endian GGUF bytes, appended field by field, so malformed inputs are spelled out in
//! code rather than stored as opaque blobs (STYLE.md "Fixtures").
//!
//! This module knows the GGUF wire layout (magic, counts, strings, key/value and tensor-info
//! records) and nothing else: no type table, no validation. It must not grow a parser; callers
//! write whatever numbers they want, valid or not.

/// GGUF bytes under construction. The field is public so a test can patch or measure them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Raw(pub Vec<u8>);

/// The value type code of a `u32` value (GGUF `UINT32`).
const TYPE_U32: u32 = 4;
/// The value type code of a string value (GGUF `STRING`).
const TYPE_STRING: u32 = 8;

impl Raw {
    /// Magic, version, tensor count, key count.
    pub fn header(version: u32, tensors: u64, kvs: u64) -> Self {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(tensors).u64(kvs);
        r
    }

    /// A version 3 header with one metadata entry, key `k`, an ARRAY of `count` elements of
    /// value type `elem_type`; the elements are for the caller to add.
    pub fn one_array(elem_type: u32, count: u64) -> Self {
        let mut r = Raw::header(3, 0, 1);
        r.str(b"k").u32(9).u32(elem_type).u64(count);
        r
    }

    /// A version 3 header with one metadata entry, key `k`, a STRING of declared length `len`;
    /// its bytes are for the caller to add.
    pub fn one_string(len: u64) -> Self {
        let mut r = Raw::header(3, 0, 1);
        r.str(b"k").u32(8).u64(len);
        r
    }

    /// A `u32`, little-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A `u64`, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Bytes as they are.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// A GGUF string: `u64` length, then the bytes (which need not be UTF-8).
    pub fn str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64).bytes(s)
    }

    /// A key/value record holding a `u32`.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key.as_bytes()).u32(TYPE_U32).u32(v)
    }

    /// A key/value record holding a string.
    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.str(key.as_bytes()).u32(TYPE_STRING).str(v.as_bytes())
    }

    /// A tensor info: name, dimension count, dimensions, ggml type, offset.
    pub fn tensor(&mut self, name: &str, ne: &[u64], ggml_type: u32, offset: u64) -> &mut Self {
        self.str(name.as_bytes()).u32(ne.len() as u32);
        for &d in ne {
            self.u64(d);
        }
        self.u32(ggml_type).u64(offset)
    }

    /// Zero bytes up to a multiple of `align`.
    pub fn pad(&mut self, align: usize) -> &mut Self {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }

    /// `n` bytes of `byte`.
    pub fn fill(&mut self, n: usize, byte: u8) -> &mut Self {
        self.0.resize(self.0.len() + n, byte);
        self
    }

    /// A copy of the bytes so far.
    pub fn build(&self) -> Vec<u8> {
        self.0.clone()
    }

    /// The bytes so far, leaving the builder empty.
    pub fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    /// Zero bytes up to `len` in all (none if there are already as many), then [`Raw::done`].
    pub fn fill_to(&mut self, len: usize) -> Vec<u8> {
        self.0.resize(len.max(self.0.len()), 0);
        self.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_little_endian_and_in_order() {
        let bytes = Raw::header(3, 1, 2)
            .kv_u32("k", 7)
            .kv_str("s", "v")
            .tensor("t", &[2, 3], 36, 64)
            .done();
        let mut want = b"GGUF".to_vec();
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(&1u64.to_le_bytes());
        want.extend_from_slice(&2u64.to_le_bytes());
        for part in [
            &1u64.to_le_bytes()[..],
            b"k",
            &4u32.to_le_bytes(),
            &7u32.to_le_bytes(),
            &1u64.to_le_bytes(),
            b"s",
            &8u32.to_le_bytes(),
            &1u64.to_le_bytes(),
            b"v",
            &1u64.to_le_bytes(),
            b"t",
            &2u32.to_le_bytes(),
            &2u64.to_le_bytes(),
            &3u64.to_le_bytes(),
            &36u32.to_le_bytes(),
            &64u64.to_le_bytes(),
        ] {
            want.extend_from_slice(part);
        }
        assert_eq!(bytes, want);
    }

    #[test]
    fn pad_fill_and_fill_to() {
        let mut r = Raw::header(3, 0, 0);
        assert_eq!(r.0.len(), 24);
        r.pad(32);
        assert_eq!(r.0.len(), 32);
        r.pad(32).fill(3, 0xab);
        assert_eq!(r.0[32..], [0xab; 3]);
        assert_eq!(r.build().len(), 35);
        assert_eq!(r.fill_to(40).len(), 40);
        assert!(r.0.is_empty());
        assert_eq!(Raw::header(3, 0, 0).fill_to(10).len(), 24);
    }
}
