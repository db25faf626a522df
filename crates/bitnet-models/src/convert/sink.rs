//! [`Sink`]: where [`super::Plan::write`] writes, and how it hands on the tensors it copies.

use std::io::{self, Write};

/// An output of [`super::Plan::write`]: a `Write`, given the bytes of the file's header and
/// of the tensors it re-encodes. The usual writers are sinks (`Vec<u8>`, `File`, `BufWriter`,
/// `Cursor<Vec<u8>>`, `io::Sink`); any other is one with `impl Sink for W {}`. The tensors
/// copied unchanged go through
/// [`Sink::copy`], each as one slice of the input's bytes (the model's, which the caller
/// parsed): by default written like the rest, but an output that knows the input's file can
/// copy them from it instead, without the bytes passing through this process
/// ([`crate::files::Output::copy_from`], with the `files` feature).
pub trait Sink: Write {
    /// Puts `part` (a slice of the input's bytes, a whole tensor's or the part of one) on the
    /// output, all of it or an error, as `write_all` does.
    fn copy(&mut self, part: &[u8]) -> io::Result<()> {
        self.write_all(part)
    }

    /// Told, before anything but the header is written, the output's whole length: an output
    /// that allocates its file's blocks ahead can allocate them all at once
    /// ([`crate::files::Output`]). Nothing by default.
    fn reserve(&mut self, len: u64) {
        let _ = len;
    }
}

/// In memory: told the length, the vector makes room for it at once (where it can; it grows
/// as it is written otherwise).
impl Sink for Vec<u8> {
    fn reserve(&mut self, len: u64) {
        let more = usize::try_from(len).map_or(usize::MAX, |n| n.saturating_sub(self.len()));
        let _ = self.try_reserve(more);
    }
}
impl Sink for std::fs::File {}
impl Sink for io::Cursor<Vec<u8>> {}
impl Sink for io::Sink {}
impl<W: Write> Sink for io::BufWriter<W> {}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn copy(&mut self, part: &[u8]) -> io::Result<()> {
        (**self).copy(part)
    }

    fn reserve(&mut self, len: u64) {
        (**self).reserve(len);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};

    use super::Sink;

    /// A sink that keeps what it was handed to copy apart from what was written, and the
    /// lengths it was told to reserve.
    #[derive(Default)]
    struct Apart {
        written: Vec<u8>,
        copied: Vec<u8>,
        reserved: Vec<u64>,
    }

    impl Write for Apart {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.written.write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Apart {
        fn copy(&mut self, part: &[u8]) -> io::Result<()> {
            self.copied.extend_from_slice(part);
            Ok(())
        }
        fn reserve(&mut self, len: u64) {
            self.reserved.push(len);
        }
    }

    /// Reserves the length, writes a head and copies a tensor through `sink`, as `Plan::write`
    /// is given it.
    fn head_and_tensor<S: Sink>(mut sink: S) {
        sink.reserve(10);
        sink.write_all(b"head").unwrap();
        sink.copy(b"tensor").unwrap();
    }

    /// By default a copy is a write and a reservation nothing; through `&mut`, the sink's own
    /// `copy` and `reserve`.
    #[test]
    fn a_copy_is_a_write_unless_the_sink_copies() {
        let mut out = Vec::new();
        head_and_tensor(&mut out);
        assert_eq!(out, b"headtensor");
        // A vector makes room for what it is told; for more than can be, nothing.
        let mut out = b"head".to_vec();
        Sink::reserve(&mut out, 1000);
        assert!(out.capacity() >= 1000);
        let mut out = Vec::new();
        Sink::reserve(&mut out, u64::MAX);
        assert_eq!(out.capacity(), 0);
        let mut apart = Apart::default();
        head_and_tensor(&mut apart);
        assert_eq!(
            (&apart.written[..], &apart.copied[..], &apart.reserved[..]),
            (&b"head"[..], &b"tensor"[..], &[10][..])
        );
    }
}
