//! The tests of [`super`]: mapping, releasing and writing files atomically.

use std::fs::File;
use std::io;

use memmap2::Mmap;

use super::*;

/// Writes `bytes` to `target` atomically (replacing it with `overwrite`), which must succeed.
fn write_bytes(target: &Path, overwrite: bool, bytes: &[u8]) {
    write_atomically::<FileError>(target, overwrite, |w| {
        w.write_all(bytes).map_err(|source| FileError::Write {
            path: target.to_owned(),
            source,
        })
    })
    .unwrap();
}

/// The temporary files left in `dir` (none should be, whatever happened).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn maps_a_file_and_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, b"GGUF\x03").unwrap();
    assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"GGUF\x03");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"");
}

/// The resident kilobytes of the mapping that starts at `start`, from /proc/self/smaps.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn resident_kib(start: usize) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let head = format!("{start:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
    assert!(lines.next().is_some(), "no mapping at {head}");
    let rss = lines.find(|l| l.starts_with("Rss:")).unwrap();
    rss.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn release_drops_pages_from_the_resident_set_and_keeps_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = MappedFile::open(&path).unwrap();
    let start = file.bytes().as_ptr() as usize;
    assert!(file.bytes() == &data[..]);
    // Read in full: all 8 MiB resident.
    assert!(resident_kib(start) >= 8 << 10, "{}", resident_kib(start));
    // The second half released: only the first half stays.
    file.release(&file.bytes()[4 << 20..]);
    let half = resident_kib(start);
    assert!(half <= 4 << 10, "{half}");
    // Other memory, an empty slice: nothing happens.
    file.release(&data);
    file.release(&[]);
    assert_eq!(resident_kib(start), half);
    // The bytes read the same.
    assert!(file.bytes() == &data[..]);
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn release_behind_releases_what_was_read_once_there_is_enough_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mib = 1 << 20;
    let data: Vec<u8> = (0..24 * mib as u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = MappedFile::open(&path).unwrap();
    let start = file.bytes().as_ptr() as usize;
    assert!(file.bytes() == &data[..]);
    let full = resident_kib(start);
    assert!(full >= 24 << 10, "{full}");
    let mut released = 0;
    // 3 MiB and 6 MiB done with: under 8 MiB, nothing released.
    for part in [0..3 * mib, 3 * mib..6 * mib] {
        file.release_behind(&file.bytes()[part], &mut released);
        assert_eq!(released, 0);
        assert_eq!(resident_kib(start), full);
    }
    // 9 MiB: all of it released, from the start.
    file.release_behind(&file.bytes()[6 * mib..9 * mib], &mut released);
    assert_eq!(released, 9 * mib);
    let rest = resident_kib(start);
    assert!((14 << 10..=15 << 10).contains(&rest), "{rest}");
    // Another 8 MiB exactly: released too (the bound is inclusive).
    file.release_behind(&file.bytes()[9 * mib..17 * mib], &mut released);
    assert_eq!(released, 17 * mib);
    assert!(resident_kib(start) <= 7 << 10, "{}", resident_kib(start));
    // Other memory: nothing happens.
    file.release_behind(&data[20 * mib..], &mut released);
    assert_eq!(released, 17 * mib);
    assert!(file.bytes() == &data[..]);
}

#[test]
fn refuses_a_missing_path_and_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let e = MappedFile::open(&missing).unwrap_err();
    assert!(matches!(&e, FileError::Open { path, source }
        if path == &missing && source.kind() == io::ErrorKind::NotFound));
    assert_eq!(e.to_string(), format!("{}: cannot open", missing.display()));
    let e = MappedFile::open(dir.path()).unwrap_err();
    assert!(matches!(&e, FileError::Directory { path } if path == dir.path()));
    assert_eq!(
        e.to_string(),
        format!("{}: is a directory, not a GGUF file", dir.path().display())
    );
}

#[cfg(unix)]
#[test]
fn refuses_a_device() {
    let e = MappedFile::open(Path::new("/dev/null")).unwrap_err();
    assert!(matches!(e, FileError::NotRegular { .. }), "{e:?}");
}

#[test]
fn writes_replaces_and_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    write_bytes(&target, false, b"one");
    assert_eq!(std::fs::read(&target).unwrap(), b"one");

    // Without `overwrite` an existing target is kept.
    let e = write_atomically::<FileError>(&target, false, |_| Ok(())).unwrap_err();
    assert!(matches!(e, FileError::Rename { .. }), "{e:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"one");

    // A failing writer leaves the target as it was; its error comes back as it is.
    #[derive(Debug, PartialEq)]
    enum Mine {
        Refused,
        File(String),
    }
    impl From<FileError> for Mine {
        fn from(e: FileError) -> Self {
            Mine::File(e.to_string())
        }
    }
    let e = write_atomically(&target, true, |w| {
        w.write_all(b"half").unwrap();
        Err(Mine::Refused)
    })
    .unwrap_err();
    assert_eq!(e, Mine::Refused);
    assert_eq!(std::fs::read(&target).unwrap(), b"one");

    write_atomically::<FileError>(&target, true, |w| {
        w.write_all(b"two").unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"two");
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
}

/// The blocks allocated ahead of the writes are released: the file holds what its size
/// needs, not the 16 MiB allocated at a time.
#[cfg(target_os = "linux")]
#[test]
fn holds_no_blocks_past_its_end() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    let data = vec![0x5a; 3 * output::BUFFER + 5];
    write_bytes(&target, false, &data);
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.len(), data.len() as u64);
    let held = meta.blocks() * 512;
    assert!(
        held < data.len() as u64 + output::PREALLOCATE / 4,
        "{held} bytes held for {}",
        data.len()
    );
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

#[test]
fn a_missing_directory_is_a_temp_file_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no/such/dir/out.bin");
    let e = write_atomically::<FileError>(&target, true, |_| Ok(())).unwrap_err();
    assert!(matches!(&e, FileError::TempFile { path, .. } if path == &target));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot create a temporary file next to it",
            target.display()
        )
    );
}

#[test]
fn a_bare_name_is_written_in_the_current_directory() {
    assert_eq!(parent_dir(Path::new("out.gguf")), Path::new("."));
    assert_eq!(parent_dir(Path::new("d/out.gguf")), Path::new("d"));
    assert_eq!(parent_dir(Path::new("/out.gguf")), Path::new("/"));
}

#[test]
fn same_file_by_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"x").unwrap();
    std::fs::write(&b, b"yy").unwrap();
    let meta = |p: &Path| std::fs::metadata(p).unwrap();
    assert!(same_file(&meta(&a), &meta(&a)));
    assert!(!same_file(&meta(&a), &meta(&b)));
}

/// The pages of `path` in the page cache (`mincore` over a map of it).
#[cfg(target_os = "linux")]
fn cached_pages(path: &Path) -> usize {
    let file = File::open(path).unwrap();
    // SAFETY: a read-only map of a file no one writes during the test.
    let map = unsafe { Mmap::map(&file) }.unwrap();
    let pages = map.len().div_ceil(4096);
    let mut resident = vec![0u8; pages];
    // SAFETY: `map` is a live mapping of `map.len()` bytes, and `resident` has a byte for each
    // of its 4 KiB pages (the page size here; more bytes than needed were it larger).
    let done = unsafe { libc::mincore(map.as_ptr() as *mut _, map.len(), resident.as_mut_ptr()) };
    assert_eq!(done, 0);
    resident.iter().filter(|&&r| r & 1 == 1).count()
}

/// Replacing a file drops its pages from the page cache; its bytes are the same (read here
/// through a second link to it).
#[cfg(target_os = "linux")]
#[test]
fn the_replaced_files_pages_leave_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    let old: Vec<u8> = (0..8u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&target, &old).unwrap();
    File::open(&target).unwrap().sync_all().unwrap();
    let kept = dir.path().join("kept.bin");
    std::fs::hard_link(&target, &kept).unwrap();
    let pages = old.len() / 4096;
    assert!(
        cached_pages(&kept) > pages / 2,
        "the file was not cached to begin with"
    );
    write_bytes(&target, true, b"new");
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    let cached = cached_pages(&kept);
    assert!(cached < pages / 2, "{cached} of {pages} pages still cached");
    assert!(std::fs::read(&kept).unwrap() == old);
}
