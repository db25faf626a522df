//! The input codec of the `kernels_diff` fuzz target: the target and
//! `bitnet-models/tests/fuzz_regressions.rs` decode with it, `cargo xtask fuzz --write-seeds`
//! encodes its seeds with it, so a committed file means the same case everywhere.
//!
//! An input is a fixed 11-byte header (missing bytes read as 0) and the block bytes:
//!
//! | byte  | field                                                                       |
//! |-------|-----------------------------------------------------------------------------|
//! | 0     | format: index `b % n` into the caller's list of `n` formats                 |
//! | 1     | rows: `b % (MAX_ROWS + 1)`                                                  |
//! | 2..4  | cols: `u16` LE `% (MAX_COLS + 1)`                                           |
//! | 4..8  | scale: `f32` bits LE (any value, NaNs included)                             |
//! | 8     | bit 0 set: use exactly 1.0 as the scale (the block-scaled formats need it)  |
//! | 9     | misalignment: the data starts `b % MISALIGN_SPAN` bytes into its buffer     |
//! | 10    | length: `b % 8 == 1` one byte long, `b % 8 == 2` one byte short             |
//! | 11..  | block bytes, repeated to fill the tensor (zeros when empty)                 |
//!
//! The fields keep the raw header values; the methods map them to a case. This module knows
//! nothing of the formats (it must not depend on `bitnet-models`): the caller supplies the
//! number of formats and the tensor's byte size.

/// The largest row count a header can select.
pub const MAX_ROWS: u8 = 6;
/// The largest column count: a few blocks of 256 past the first, so rows end in every kind of
/// padded block.
pub const MAX_COLS: u16 = 3 * 256 + 40;
/// The data starts at one of this many offsets into its buffer.
pub const MISALIGN_SPAN: u8 = 16;
/// The header's length in bytes.
pub const HEADER_LEN: usize = 11;

/// One decoded input, its header fields as raw as they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelInput {
    /// Format selector (byte 0).
    pub format: u8,
    /// Row selector (byte 1).
    pub rows: u8,
    /// Column selector (bytes 2..4).
    pub cols: u16,
    /// Scale bits (bytes 4..8).
    pub scale_bits: u32,
    /// Use 1.0 as the scale (bit 0 of byte 8).
    pub unit_scale: bool,
    /// Misalignment selector (byte 9).
    pub misalign: u8,
    /// Length selector (byte 10).
    pub length: u8,
    /// Block bytes (bytes 11..).
    pub blocks: Vec<u8>,
}

/// The tensor bytes of a case, at the case's offset into a buffer of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    buf: Vec<u8>,
    start: usize,
}

impl Data {
    /// The bytes the kernels read.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// A decoded input mapped to one kernel call: format, shape, scale and the bytes to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Case<F> {
    /// The format, from the caller's list.
    pub format: F,
    /// Rows, `0..=MAX_ROWS`.
    pub rows: usize,
    /// Columns, `0..=MAX_COLS`.
    pub cols: usize,
    /// The tensor scale.
    pub scale: f32,
    /// The tensor's size in bytes for this format and shape (the data may be a byte off).
    pub size: usize,
    /// The data, at its offset.
    pub data: Data,
}

impl KernelInput {
    /// The case this input selects from `formats`, whose tensor size `tensor_bytes(format,
    /// rows, cols)` gives: the bytes the kernels read for that shape (the fuzz target and its
    /// replay pass `data_bytes`, which for bitnetcpp leaves out the 32-byte tail, and some
    /// length of their choosing for a row length a format cannot hold).
    ///
    /// # Panics
    ///
    /// If `formats` is empty.
    pub fn case<F: Copy>(
        &self,
        formats: &[F],
        tensor_bytes: impl FnOnce(F, usize, usize) -> usize,
    ) -> Case<F> {
        let (format, rows, cols) = self.shape(formats.len());
        let format = formats[format];
        let size = tensor_bytes(format, rows, cols);
        Case {
            format,
            rows,
            cols,
            scale: self.scale(),
            size,
            data: self.data(size),
        }
    }

    /// Decodes any bytes; a short input reads as if padded with zeros.
    pub fn decode(input: &[u8]) -> Self {
        let mut h = [0u8; HEADER_LEN];
        let n = input.len().min(HEADER_LEN);
        h[..n].copy_from_slice(&input[..n]);
        Self {
            format: h[0],
            rows: h[1],
            cols: u16::from_le_bytes([h[2], h[3]]),
            scale_bits: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            unit_scale: h[8] & 1 == 1,
            misalign: h[9],
            length: h[10],
            blocks: input[n..].to_vec(),
        }
    }

    /// The bytes [`KernelInput::decode`] reads back as `self`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.blocks.len());
        v.extend_from_slice(&[self.format, self.rows]);
        v.extend_from_slice(&self.cols.to_le_bytes());
        v.extend_from_slice(&self.scale_bits.to_le_bytes());
        v.extend_from_slice(&[u8::from(self.unit_scale), self.misalign, self.length]);
        v.extend_from_slice(&self.blocks);
        v
    }

    /// `(format index, rows, cols)` of the case, for a list of `n_formats` formats.
    pub fn shape(&self, n_formats: usize) -> (usize, usize, usize) {
        (
            usize::from(self.format) % n_formats,
            usize::from(self.rows % (MAX_ROWS + 1)),
            usize::from(self.cols % (MAX_COLS + 1)),
        )
    }

    /// The tensor scale of the case.
    pub fn scale(&self) -> f32 {
        if self.unit_scale {
            1.0
        } else {
            f32::from_bits(self.scale_bits)
        }
    }

    /// The data length for a tensor of `size` bytes: the size, one more, or one fewer.
    pub fn data_len(&self, size: usize) -> usize {
        match self.length % 8 {
            1 => size + 1,
            2 => size.saturating_sub(1),
            _ => size,
        }
    }

    /// The data for a tensor of `size` bytes: [`KernelInput::data_len`] bytes of the block
    /// bytes repeated, starting `misalign % MISALIGN_SPAN` bytes into their buffer.
    pub fn data(&self, size: usize) -> Data {
        let start = usize::from(self.misalign % MISALIGN_SPAN);
        let mut buf = vec![0u8; start + self.data_len(size)];
        for (b, v) in buf[start..].iter_mut().zip(self.blocks.iter().cycle()) {
            *b = *v;
        }
        Data { buf, start }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn sample() -> KernelInput {
        KernelInput {
            format: 2,
            rows: 3,
            cols: 300,
            scale_bits: 0.5f32.to_bits(),
            unit_scale: false,
            misalign: 1,
            length: 0,
            blocks: (0..=255).collect(),
        }
    }

    #[test]
    fn encode_then_decode_is_the_identity() {
        let mut rng = SplitMix64::new(5);
        for n in 0..64 {
            let r = rng.bytes(HEADER_LEN);
            let input = KernelInput {
                format: r[0],
                rows: r[1],
                cols: u16::from_le_bytes([r[2], r[3]]),
                scale_bits: u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
                unit_scale: r[8] & 1 == 1,
                misalign: r[9],
                length: r[10],
                blocks: rng.bytes(n),
            };
            assert_eq!(KernelInput::decode(&input.encode()), input);
        }
    }

    #[test]
    fn decode_then_encode_keeps_every_byte_but_the_flag_bits() {
        let mut rng = SplitMix64::new(9);
        for n in 0..40 {
            let bytes = rng.bytes(n);
            let input = KernelInput::decode(&bytes);
            let again = input.encode();
            let mut want = bytes.clone();
            want.resize(want.len().max(HEADER_LEN), 0);
            want[8] &= 1;
            assert_eq!(again, want, "{n} bytes");
            assert_eq!(KernelInput::decode(&again), input);
        }
    }

    #[test]
    fn header_layout() {
        let bytes = sample().encode();
        assert_eq!(bytes[..4], [2, 3, 0x2c, 0x01]);
        assert_eq!(bytes[4..8], 0.5f32.to_bits().to_le_bytes());
        assert_eq!(bytes[8..11], [0, 1, 0]);
        assert_eq!(bytes.len(), HEADER_LEN + 256);
    }

    #[test]
    fn short_inputs_read_as_zeros() {
        assert_eq!(KernelInput::decode(&[]), KernelInput::default());
        let input = KernelInput::decode(&[1, 2, 3]);
        assert_eq!((input.format, input.rows, input.cols), (1, 2, 3));
        assert!(input.blocks.is_empty());
    }

    #[test]
    fn selectors_wrap() {
        let input = KernelInput {
            format: 4,
            rows: MAX_ROWS + 2,
            cols: MAX_COLS + 3,
            misalign: MISALIGN_SPAN + 2,
            ..sample()
        };
        assert_eq!(input.shape(3), (1, 1, 2));
        assert_eq!(input.data(0).bytes().len(), 0);
        assert_eq!(input.data(4).buf.len(), 2 + 4);
    }

    #[test]
    fn scale_and_lengths() {
        let mut input = sample();
        assert_eq!(input.scale(), 0.5);
        input.scale_bits = f32::NAN.to_bits();
        assert!(input.scale().is_nan());
        input.unit_scale = true;
        assert_eq!(input.scale(), 1.0);
        for (length, want) in [(0, 10), (1, 11), (2, 9), (9, 11), (10, 9), (3, 10)] {
            input.length = length;
            assert_eq!(input.data_len(10), want, "selector {length}");
        }
        input.length = 2;
        assert_eq!(input.data_len(0), 0);
    }

    #[test]
    fn case_maps_every_field() {
        let input = KernelInput {
            format: 4,
            rows: 2,
            cols: 10,
            length: 1,
            misalign: 5,
            blocks: vec![7],
            ..sample()
        };
        let case = input.case(&['a', 'b', 'c'], |f, rows, cols| {
            assert_eq!((f, rows, cols), ('b', 2, 10));
            20
        });
        assert_eq!((case.format, case.rows, case.cols), ('b', 2, 10));
        assert_eq!((case.scale, case.size), (0.5, 20));
        assert_eq!(case.data.bytes(), [7; 21]);
    }

    #[test]
    fn data_repeats_the_blocks_after_the_offset() {
        let input = KernelInput {
            misalign: 3,
            blocks: vec![1, 2, 3],
            ..sample()
        };
        let data = input.data(7);
        assert_eq!(data.buf[..3], [0, 0, 0]);
        assert_eq!(data.bytes(), [1, 2, 3, 1, 2, 3, 1]);
        let empty = KernelInput::default().data(5);
        assert_eq!(empty.bytes(), [0; 5]);
    }
}
