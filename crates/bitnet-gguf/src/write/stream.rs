//! [`GgufWriter`]: a file streamed to any `Write`, its tensors' data given in order, in pieces
//! of any size — memory stays bounded by what the caller holds, whatever the file's size.

use std::io::Write;

use super::{header, TensorSpec, WriteError};
use crate::layout::pad;
use crate::value::MetadataValue;

/// Zero bytes to pad with (alignments above this are written in several pieces).
const ZEROS: [u8; 64] = [0; 64];

/// Streams a GGUF v3 file: the header, metadata and tensor infos when created (sizes declared up
/// front, checked as [`crate::GgufBuilder`] checks them), then the tensors' data in order through
/// [`GgufWriter::write_data`], each followed by its zero padding, then [`GgufWriter::finish`].
/// The bytes are exactly what [`crate::GgufBuilder`] builds for the same input.
#[derive(Debug)]
pub struct GgufWriter<W: Write> {
    out: W,
    align: u64,
    /// The file's length once finished.
    len: u64,
    tensors: Vec<(String, u64)>,
    /// The tensor being written, and how many of its bytes are.
    current: usize,
    written: u64,
}

impl<W: Write> GgufWriter<W> {
    /// Checks what is declared, writes everything before the data section and returns the
    /// writer, ready for the first tensor's data.
    pub fn new(
        mut out: W,
        metadata: &[(String, MetadataValue)],
        tensors: &[TensorSpec],
    ) -> Result<Self, WriteError> {
        let (bytes, align, data_len) = header(metadata, tensors)?;
        out.write_all(&bytes)?;
        let mut writer = Self {
            out,
            align,
            // No overflow: the data's offsets were checked, and the header is in memory.
            len: bytes.len() as u64 + data_len,
            tensors: tensors.iter().map(|t| (t.name.clone(), t.size)).collect(),
            current: 0,
            written: 0,
        };
        writer.skip_empty()?;
        Ok(writer)
    }

    /// Appends `data` to the tensors' data, in order: a piece may end inside a tensor or span
    /// several; each tensor's padding is written as soon as it is complete.
    pub fn write_data(&mut self, data: &[u8]) -> Result<(), WriteError> {
        self.write_data_with(data, |out, piece| out.write_all(piece))
    }

    /// [`GgufWriter::write_data`], with the bytes of `data` put on the output by `put`, called
    /// once for each tensor's part of them (in order; the padding is written as usual). `put`
    /// must write all of its piece, or fail: an output that can copy the bytes from where they
    /// came from, rather than be handed them, does it here.
    pub fn write_data_with(
        &mut self,
        mut data: &[u8],
        mut put: impl FnMut(&mut W, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), WriteError> {
        while !data.is_empty() {
            let Some(&(_, size)) = self.tensors.get(self.current) else {
                return Err(WriteError::TooMuchData {
                    extra: data.len() as u64,
                });
            };
            let room = usize::try_from(size - self.written).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            put(&mut self.out, now)?;
            self.written += now.len() as u64;
            data = rest;
            self.skip_empty()?;
        }
        Ok(())
    }

    /// The file's length in bytes once finished: the header, and every tensor's data padded.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// The output, to call it directly (whatever is written to it lands among the file's
    /// bytes, as the writer's own do).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Checks every tensor is complete and hands the output back (not flushed: flush or sync it
    /// as the caller needs).
    pub fn finish(self) -> Result<W, WriteError> {
        if let Some((name, size)) = self.tensors.get(self.current) {
            return Err(WriteError::Incomplete {
                tensor: name.clone(),
                written: self.written,
                size: *size,
            });
        }
        Ok(self.out)
    }

    /// While the current tensor is complete: writes its padding and moves to the next.
    fn skip_empty(&mut self) -> Result<(), WriteError> {
        while let Some(&(_, size)) = self.tensors.get(self.current) {
            if self.written < size {
                break;
            }
            let mut padding = pad(size, self.align).unwrap_or(size) - size;
            while padding > 0 {
                let n = padding.min(ZEROS.len() as u64) as usize;
                self.out.write_all(&ZEROS[..n])?;
                padding -= n as u64;
            }
            self.current += 1;
            self.written = 0;
        }
        Ok(())
    }
}
