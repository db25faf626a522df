//! The writer [`super::write_atomically`] hands its callback: buffered, with the buffers written
//! by a second thread, so the caller goes on producing bytes while the system copies the last
//! ones into the file; with the file's blocks allocated ahead of the writes; and with its
//! writeback to the disk started as it grows, so the sync at the end has little left to wait
//! for.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::Scope;

use super::input::{offset_within, MappedFile};
use crate::convert::Sink;

/// Bytes per buffer: 1 MiB, so every write reaching the file is a large one.
pub(super) const BUFFER: usize = 1 << 20;

/// Pieces at once: a buffer being filled, and up to two pieces queued or being written by the
/// thread.
const BUFFERS: usize = 3;

/// Bytes written between two requests to start writing them back to the disk: 8 MiB.
const WRITEBACK: u64 = 8 << 20;

/// The output of [`super::write_atomically`]: bytes written to it reach the temporary file in
/// 1 MiB writes, made by a thread of their own where one can be started (in the caller's thread
/// where not, as on `wasm32-wasip1`). An error writing the file comes back from a later `write`
/// or from `flush`.
///
/// Given its input ([`Output::copy_from`]), it is a [`Sink`] that copies the unchanged tensors
/// of a conversion file to file, as `cp` does (Linux's `copy_file_range`: the system copies the
/// pages, which never enter this process), rather than through its buffers.
#[derive(Debug)]
pub struct Output<'f> {
    buf: Vec<u8>,
    to: To<'f>,
    source: Option<Source>,
    copied: u64,
}

/// Where full buffers go.
#[derive(Debug)]
enum To<'f> {
    /// To the writing thread; it answers each piece once written (or with the error), handing
    /// back a buffer to reuse.
    Thread {
        send: SyncSender<Piece>,
        back: Receiver<io::Result<Option<Vec<u8>>>>,
        in_flight: usize,
    },
    /// Straight to the file.
    File(Writeback<'f>),
}

/// What the writing thread is given, in the order of the file.
#[derive(Debug)]
enum Piece {
    /// Bytes to write; the buffer goes back to be filled again.
    Bytes(Vec<u8>),
    /// `len` bytes of `from` from `offset`, copied by the system.
    Copy {
        from: Arc<File>,
        offset: u64,
        len: u64,
    },
    /// The file's whole length, to allocate its blocks for at once.
    Reserve(u64),
}

/// The input file [`Output::copy_from`] was given, and where its bytes are mapped.
#[derive(Debug)]
struct Source {
    file: Arc<File>,
    start: usize,
    len: usize,
}

impl<'f> Output<'f> {
    /// An output writing `file`, with its writing thread in `scope` when one can be started.
    pub(super) fn new<'s>(scope: &'s Scope<'s, '_>, file: &'f File) -> Self
    where
        'f: 's,
    {
        let (send, queue) = sync_channel::<Piece>(BUFFERS - 1);
        let (done, back) = sync_channel::<io::Result<Option<Vec<u8>>>>(BUFFERS);
        let thread = std::thread::Builder::new()
            .name("write".into())
            .spawn_scoped(scope, move || {
                let mut file = Writeback::new(file);
                for piece in queue {
                    let result = file.put(piece);
                    let failed = result.is_err();
                    if done.send(result).is_err() || failed {
                        break;
                    }
                }
            });
        let to = match thread {
            Ok(_) => To::Thread {
                send,
                back,
                in_flight: 0,
            },
            Err(_) => To::File(Writeback::new(file)),
        };
        Output {
            buf: Vec::with_capacity(BUFFER),
            to,
            source: None,
            copied: 0,
        }
    }

    /// Names the input whose bytes [`Sink::copy`] is given: parts of [`MappedFile::bytes`] of
    /// 1 MiB or more (a write buffer) are copied from `input`'s file by the system (on Linux; the
    /// bytes are written like any others elsewhere, and where the system cannot copy between
    /// the two files).
    pub fn copy_from(&mut self, input: &MappedFile) {
        let bytes = input.bytes();
        self.source = Some(Source {
            file: Arc::clone(&input.file),
            start: bytes.as_ptr() as usize,
            len: bytes.len(),
        });
    }

    /// The bytes handed to the system to copy from the input ([`Output::copy_from`]) rather
    /// than written.
    pub fn copied_bytes(&self) -> u64 {
        self.copied
    }

    /// The copy of `part` from the input's file, if it is a part of the input to copy.
    fn copy_of(&self, part: &[u8]) -> Option<Piece> {
        let source = self.source.as_ref()?;
        let offset = offset_within(source.start, source.len, part)?;
        (cfg!(target_os = "linux") && part.len() >= BUFFER).then(|| Piece::Copy {
            from: Arc::clone(&source.file),
            offset: offset as u64,
            len: part.len() as u64,
        })
    }

    /// Hands the current buffer on and takes an empty one.
    fn pass_on(&mut self) -> io::Result<()> {
        let full = std::mem::take(&mut self.buf);
        let spare = self.hand_on(Piece::Bytes(full))?;
        self.buf = spare.unwrap_or_else(|| Vec::with_capacity(BUFFER));
        Ok(())
    }

    /// Hands `piece` to the thread (first waiting for an answer when [`BUFFERS`] are in use),
    /// or writes it; returns a buffer to reuse, emptied, when one came back.
    fn hand_on(&mut self, piece: Piece) -> io::Result<Option<Vec<u8>>> {
        match &mut self.to {
            To::File(file) => Ok(file.put(piece)?.map(cleared)),
            To::Thread {
                send,
                back,
                in_flight,
            } => {
                let mut spare = None;
                if *in_flight + 1 >= BUFFERS {
                    *in_flight -= 1;
                    spare = returned(back)?;
                }
                if send.send(piece).is_err() {
                    // The thread stopped: it sent its error back.
                    return Err(returned(back).err().unwrap_or_else(stopped));
                }
                *in_flight += 1;
                Ok(spare)
            }
        }
    }
}

/// The next answer of the thread: a buffer to reuse (emptied) or none, or its error.
fn returned(back: &Receiver<io::Result<Option<Vec<u8>>>>) -> io::Result<Option<Vec<u8>>> {
    Ok(back.recv().map_err(|_| stopped())??.map(cleared))
}

/// `buf`, emptied.
fn cleared(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    buf
}

/// The error for a writing thread that went away without saying why.
fn stopped() -> io::Error {
    io::Error::other("the writing thread stopped")
}

impl Write for Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(BUFFER - self.buf.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == BUFFER {
            self.pass_on()?;
        }
        Ok(n)
    }

    /// Writes what is buffered and waits until the thread has written everything.
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.pass_on()?;
        }
        if let To::Thread {
            back, in_flight, ..
        } = &mut self.to
        {
            while *in_flight > 0 {
                *in_flight -= 1;
                returned(back)?;
            }
        }
        Ok(())
    }
}

impl Sink for Output<'_> {
    /// Past the first buffer (a small file is not worth it), has the blocks for all `len`
    /// bytes allocated at once, rather than 16 MiB at a time as the file grows: none
    /// left past its end to release, and the file system asked once.
    fn reserve(&mut self, len: u64) {
        if len > BUFFER as u64 {
            // A thread that stopped says why at the next write.
            let _ = self.hand_on(Piece::Reserve(len));
        }
    }

    /// Copies `part` from the input's file when it is a large enough part of the input given
    /// to [`Output::copy_from`] (after the bytes buffered before it); writes it otherwise.
    fn copy(&mut self, part: &[u8]) -> io::Result<()> {
        let Some(piece) = self.copy_of(part) else {
            return self.write_all(part);
        };
        if !self.buf.is_empty() {
            self.pass_on()?;
        }
        self.hand_on(piece)?;
        self.copied += part.len() as u64;
        Ok(())
    }
}

/// A file written from its start, with its blocks allocated [`PREALLOCATE`] bytes ahead of the
/// writes, and the system asked to start writing each [`WRITEBACK`] bytes back to the disk as
/// soon as they are written (Linux's `fallocate` and `sync_file_range`; elsewhere neither).
#[derive(Debug)]
struct Writeback<'f> {
    file: &'f File,
    written: u64,
    started: u64,
    allocated: u64,
}

impl<'f> Writeback<'f> {
    fn new(file: &'f File) -> Self {
        Writeback {
            file,
            written: 0,
            started: 0,
            allocated: 0,
        }
    }

    /// Writes or copies `piece`; hands a written buffer back.
    fn put(&mut self, piece: Piece) -> io::Result<Option<Vec<u8>>> {
        match piece {
            Piece::Bytes(buf) => {
                self.extend(buf.len() as u64, |mut file| file.write_all(&buf))?;
                Ok(Some(buf))
            }
            Piece::Reserve(len) => {
                self.allocated = self.allocated.max(allocate(self.file, self.written, len));
                Ok(None)
            }
            Piece::Copy { from, offset, len } => {
                // In pieces of WRITEBACK bytes, so writeback starts as the copy goes on.
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(WRITEBACK);
                    self.extend(n, |file| copy_range(&from, offset + done, file, n))?;
                    done += n;
                }
                Ok(None)
            }
        }
    }

    /// Puts `len` bytes at the end of the file with `put`: allocated ahead, written back as
    /// they grow.
    fn extend(&mut self, len: u64, put: impl FnOnce(&File) -> io::Result<()>) -> io::Result<()> {
        let end = self.written + len;
        // Past the first buffer (a small file is not worth it).
        if end > self.allocated && self.written > 0 {
            self.allocated = preallocate(self.file, self.written, end - self.written);
        }
        put(self.file)?;
        self.written = end;
        if self.written - self.started >= WRITEBACK {
            start_writeback(self.file, self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(())
    }
}

/// Appends `len` bytes of `from` from `offset` to `to` (at its position): copied by the system
/// (`copy_file_range`), or read and written where it cannot copy between these files. An
/// input that ends before them is an error.
#[cfg(target_os = "linux")]
fn copy_range(from: &File, offset: u64, to: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut at = i64::try_from(offset).map_err(|_| io::Error::other("offset past i64"))?;
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
        // SAFETY: `copy_file_range` takes two file descriptors, which `from` and `to` keep
        // open for the call, a pointer to `at`, which lives through it, a null pointer (write
        // at `to`'s position) and integers; it touches no other memory of ours.
        let copied = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut at,
                to.as_raw_fd(),
                std::ptr::null_mut(),
                n,
                0,
            )
        };
        match copied {
            0 => return Err(ended(offset, len, left)),
            n if n > 0 => left -= n as u64,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    // Not between these files (other file systems, no support): by hand.
                    Some(
                        libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM,
                    ) => return read_and_write(from, offset + (len - left), to, left),
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// [`copy_range`] without the system's copy: read into a buffer and written.
#[cfg(target_os = "linux")]
fn read_and_write(from: &File, offset: u64, mut to: &File, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; usize::try_from(len).unwrap_or(BUFFER).min(BUFFER)];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = match from.read_at(&mut buf[..want], offset + done) {
            Ok(0) => return Err(ended(offset, len, len - done)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// Never called: [`Output::copy_from`] copies only on Linux.
#[cfg(not(target_os = "linux"))]
fn copy_range(_from: &File, _offset: u64, _to: &File, _len: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The error for an input that ends with `left` of the `len` bytes from `offset` not copied.
#[cfg(target_os = "linux")]
fn ended(offset: u64, len: u64, left: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "the input ends at offset {}, {left} bytes short of the {len} to copy from \
             offset {offset}",
            offset + (len - left)
        ),
    )
}

/// Bytes of the file allocated at a time, ahead of the writes: 16 MiB.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(super) const PREALLOCATE: u64 = 16 << 20;

/// Allocates the blocks of `file` for at least `len` bytes from `offset` (the end of what is
/// written), [`PREALLOCATE`] at a time, without changing its size; returns where the allocation
/// ends, or `u64::MAX` when the file system cannot (nothing more is asked). Writing into
/// allocated blocks saves ext4 reserving them a page at a time (measured: 73 MB written in 9
/// instead of 15 ms). The blocks past the end are released when the file is complete
/// ([`super::write_atomically`]).
fn preallocate(file: &File, offset: u64, len: u64) -> u64 {
    allocate(file, offset, offset.saturating_add(len.max(PREALLOCATE)))
}

/// Allocates the blocks of `file` for the bytes from `offset` to `end`, without changing its
/// size (Linux's `fallocate`; elsewhere nothing): returns where the allocation ends, `offset`
/// when there is nothing to allocate, or `u64::MAX` when the file system cannot.
#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: u64, end: u64) -> u64 {
    use std::os::fd::AsRawFd;
    if end <= offset {
        return offset;
    }
    let (Ok(at), Ok(n)) = (i64::try_from(offset), i64::try_from(end - offset)) else {
        return u64::MAX;
    };
    // SAFETY: `fallocate` takes a file descriptor, which `file` keeps open for the call, and
    // integers; it touches no memory of ours.
    let done = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, at, n) };
    if done == 0 {
        end
    } else {
        u64::MAX
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(_file: &File, _offset: u64, _end: u64) -> u64 {
    u64::MAX
}

/// Asks the system to start writing `len` bytes of `file` from `offset` back to the disk,
/// without waiting. Advice only: a failure changes nothing (the final sync still syncs all).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: `sync_file_range` takes a file descriptor, which `file` keeps open for the call,
    // and two integers; it touches no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests;
