//! The tests of [`super::Output`]: in order, errors back, blocks allocated ahead, the input's
//! tensors copied by the system.

use std::io::Write;

#[cfg(target_os = "linux")]
use super::{preallocate, PREALLOCATE};
use super::{Output, To, BUFFER, BUFFERS, WRITEBACK};

/// The pieces `out` handed to its thread and had no answer for yet.
fn in_flight(out: &Output<'_>) -> usize {
    match &out.to {
        To::Thread { in_flight, .. } => *in_flight,
        To::File(_) => 0,
    }
}

/// Bytes that tell their place: byte `i` is `i × 7 mod 251`.
fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// The blocks asked for are allocated, the size unchanged; asked again, from the end.
#[cfg(target_os = "linux")]
#[test]
fn preallocates_without_changing_the_size() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("out.bin")).unwrap();
    // At least PREALLOCATE, or what is asked for where it is more; not much more (a file
    // system allocates whole blocks).
    assert_eq!(preallocate(&file, 0, 10), PREALLOCATE);
    let held = file.metadata().unwrap().blocks() * 512;
    assert!(
        (PREALLOCATE..PREALLOCATE + (1 << 20)).contains(&held),
        "{held}"
    );
    assert_eq!(file.metadata().unwrap().len(), 0);
    assert_eq!(
        preallocate(&file, PREALLOCATE, PREALLOCATE + 4096),
        2 * PREALLOCATE + 4096
    );
    let held = file.metadata().unwrap().blocks() * 512;
    let want = 2 * PREALLOCATE + 4096;
    assert!((want..want + (1 << 20)).contains(&held), "{held}");
    assert_eq!(file.metadata().unwrap().len(), 0);
}

#[test]
fn writes_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let file = std::fs::File::create(&path).unwrap();
    // Small pieces, a piece larger than all the buffers together, an odd end: more
    // buffers than are ever in flight, each reused.
    let data = bytes(9 * BUFFER + 12_345);
    std::thread::scope(|scope| {
        let mut out = Output::new(scope, &file);
        let (head, rest) = data.split_at(1000);
        for piece in head.chunks(7) {
            out.write_all(piece).unwrap();
        }
        let (big, tail) = rest.split_at(4 * BUFFER + 3);
        out.write_all(big).unwrap();
        // Never more than two buffers handed on and not answered (one more being filled).
        let mut most = 0;
        for piece in tail.chunks(BUFFER / 3) {
            out.write_all(piece).unwrap();
            most = most.max(in_flight(&out));
            // The buffers come back to be filled again, whole.
            assert!(out.buf.capacity() >= BUFFER, "{}", out.buf.capacity());
        }
        if matches!(out.to, To::Thread { .. }) {
            assert_eq!(most, BUFFERS - 1);
        }
        out.flush().unwrap();
        assert_eq!(in_flight(&out), 0);
        // Nothing is left to write: a second flush is a no-op.
        out.flush().unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn an_error_of_the_file_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    std::fs::write(&path, b"").unwrap();
    // Open for reading only: every write fails.
    let file = std::fs::File::open(&path).unwrap();
    let data = bytes(5 * BUFFER);
    std::thread::scope(|scope| {
        let mut out = Output::new(scope, &file);
        let result = out.write_all(&data).and_then(|()| out.flush());
        let e = result.unwrap_err();
        assert_ne!(e.kind(), std::io::ErrorKind::Other, "{e}");
    });
    // A small write fails at the flush.
    std::thread::scope(|scope| {
        let mut out = Output::new(scope, &file);
        out.write_all(b"abc").unwrap();
        assert!(out.flush().is_err());
    });
}

/// Writes through `out` (given the mapped `input`) a head, parts of the input to copy (one
/// exactly [`BUFFER`] long ending at the input's end), a part too small to copy, a large slice
/// of other memory, and a tail; returns what it should have written and what it copied.
#[cfg(target_os = "linux")]
fn copy_some(out: &mut Output<'_>, input: &super::MappedFile) -> (Vec<u8>, u64) {
    use crate::convert::Sink;
    let all = input.bytes();
    let other = bytes(BUFFER + 1);
    out.copy_from(input);
    let parts: [&[u8]; 6] = [
        b"head",
        // More than a piece of the copy (WRITEBACK bytes): copied in pieces.
        &all[10..10 + WRITEBACK as usize + BUFFER + 7],
        &all[all.len() - BUFFER..],
        &all[3..100],
        &other,
        b"tail",
    ];
    let mut want = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 || i == 5 {
            out.write_all(part).unwrap();
        } else {
            out.copy(part).unwrap();
        }
        want.extend_from_slice(part);
    }
    out.flush().unwrap();
    (want, out.copied_bytes())
}

/// Parts of the input of a buffer or more are copied by the system, the rest written, all in
/// order: by the writing thread and by the caller's thread.
#[cfg(target_os = "linux")]
#[test]
fn copies_large_parts_of_the_input_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.bin");
    std::fs::write(&input_path, bytes(WRITEBACK as usize + 3 * BUFFER + 5)).unwrap();
    let input = super::MappedFile::open(&input_path).unwrap();
    for threaded in [true, false] {
        let path = dir.path().join("out.bin");
        let file = std::fs::File::create(&path).unwrap();
        let (want, copied) = std::thread::scope(|scope| {
            let mut out = Output::new(scope, &file);
            if !threaded {
                out.to = super::To::File(super::Writeback::new(&file));
            }
            copy_some(&mut out, &input)
        });
        assert_eq!(
            copied,
            WRITEBACK + (2 * BUFFER + 7) as u64,
            "threaded: {threaded}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), want, "threaded: {threaded}");
    }
}

/// A copy past the input's end is an error that says where the input ends; so is a read past
/// it, and the bytes read are the input's from the offset.
#[cfg(target_os = "linux")]
#[test]
fn a_copy_past_the_input_is_an_error() {
    use super::{copy_range, read_and_write};
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.bin");
    let data = bytes(BUFFER + 300);
    std::fs::write(&input_path, &data).unwrap();
    let input = std::fs::File::open(&input_path).unwrap();
    for copy in [copy_range, read_and_write] {
        let path = dir.path().join("out.bin");
        let out = std::fs::File::create(&path).unwrap();
        copy(&input, 7, &out, BUFFER as u64 + 200).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), &data[7..BUFFER + 207]);
        let e = copy(&input, 200, &out, BUFFER as u64 + 150).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        let message = e.to_string();
        assert!(
            message.contains(&format!("ends at offset {}", BUFFER + 300))
                && message.contains(&format!("of the {} to copy from offset 200", BUFFER + 150)),
            "{message}"
        );
    }
}

/// Where the system cannot copy between two files (here from another file system: a tmpfs, on
/// a machine that has one at /dev/shm), the bytes are read and written instead.
#[cfg(target_os = "linux")]
#[test]
fn copies_by_hand_where_the_system_cannot() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("no /dev/shm: nothing to copy across");
        return;
    };
    let other_device = |p: &std::path::Path| p.metadata().unwrap().dev();
    assert_ne!(other_device(shm.path()), other_device(dir.path()));
    let data = bytes(2 * BUFFER + 99);
    let input_path = shm.path().join("in.bin");
    std::fs::write(&input_path, &data).unwrap();
    let input = std::fs::File::open(&input_path).unwrap();
    let path = dir.path().join("out.bin");
    let out = std::fs::File::create(&path).unwrap();
    super::copy_range(&input, 5, &out, BUFFER as u64 + 90).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), &data[5..BUFFER + 95]);
}

/// An error reading the input (a directory here) comes back from either way of copying.
#[cfg(target_os = "linux")]
#[test]
fn an_error_reading_the_input_comes_back() {
    use super::{copy_range, read_and_write};
    let dir = tempfile::tempdir().unwrap();
    let input = std::fs::File::open(dir.path()).unwrap();
    let out = std::fs::File::create(dir.path().join("out.bin")).unwrap();
    for copy in [copy_range, read_and_write] {
        let e = copy(&input, 0, &out, 10).unwrap_err();
        assert_ne!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
}

/// Told the file's length, the output allocates its blocks for all of it at once and no more
/// (rather than 16 MiB ahead of the writes); told a length within one buffer, nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_reserved_length_is_allocated_at_once() {
    use std::os::unix::fs::MetadataExt;

    use crate::convert::Sink;
    let dir = tempfile::tempdir().unwrap();
    let held = |f: &std::fs::File| f.metadata().unwrap().blocks() * 512;
    let len = 3 * BUFFER + 4096;
    let data = bytes(len);
    for threaded in [true, false] {
        let path = dir.path().join("out.bin");
        let file = std::fs::File::create(&path).unwrap();
        std::thread::scope(|scope| {
            let mut out = Output::new(scope, &file);
            if !threaded {
                out.to = super::To::File(super::Writeback::new(&file));
            }
            out.reserve(len as u64);
            out.write_all(&data[..10]).unwrap();
            out.flush().unwrap();
            // All of it held, ahead of the writes.
            assert_eq!(held(&file), len as u64, "threaded: {threaded}");
            out.write_all(&data[10..]).unwrap();
            out.flush().unwrap();
        });
        assert_eq!(held(&file), len as u64, "threaded: {threaded}");
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
    let file = std::fs::File::create(dir.path().join("small.bin")).unwrap();
    std::thread::scope(|scope| {
        let mut out = Output::new(scope, &file);
        out.reserve(BUFFER as u64);
        out.flush().unwrap();
    });
    assert_eq!(held(&file), 0);
}
