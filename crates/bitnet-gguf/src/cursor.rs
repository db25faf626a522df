//! A bounds-checked little-endian reader over a byte slice. No method can panic.

use crate::error::GgufError;

/// The most bytes a string, and the most elements an array, may declare (docs/gguf.md).
pub const MAX_LEN: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos.min(self.buf.len())) as u64
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Takes `n` bytes, or fails naming `what` without moving.
    pub(crate) fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        let slice = usize::try_from(n)
            .ok()
            .and_then(|n| self.buf.get(self.pos..)?.get(..n));
        match slice {
            Some(s) => {
                self.pos += s.len();
                Ok(s)
            }
            None => Err(GgufError::Truncated {
                what,
                entry: None,
                offset: self.pos(),
                needed: n,
                file_len: self.buf.len() as u64,
            }),
        }
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Reads a `u64` length and that many bytes, the length checked against [`MAX_LEN`] first.
    /// Returns the bytes and the absolute offset where they start.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<(&'a [u8], u64), GgufError> {
        let len_at = self.pos();
        let len = self.u64(what)?;
        if len > MAX_LEN {
            return Err(GgufError::StringTooLong {
                what,
                offset: len_at,
                len,
                limit: MAX_LEN,
            });
        }
        let at = self.pos();
        Ok((self.take(len, what)?, at))
    }

    /// Like [`Cursor::string`], requiring UTF-8.
    pub(crate) fn str(&mut self, what: &'static str) -> Result<(&'a str, u64), GgufError> {
        let (bytes, at) = self.string(what)?;
        std::str::from_utf8(bytes)
            .map(|s| (s, at))
            .map_err(|_| GgufError::InvalidUtf8 { what, offset: at })
    }
}
