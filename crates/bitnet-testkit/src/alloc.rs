//! A counting global allocator, to measure how much a piece of code allocates at its peak.
//!
//! Each test binary that measures declares it itself (a library cannot choose the allocator of
//! the binaries that link it):
//!
//! ```
//! use bitnet_testkit::alloc::{peak_during, CountingAlloc};
//!
//! #[global_allocator]
//! static A: CountingAlloc = CountingAlloc;
//!
//! fn main() {
//!     let peak = peak_during(|| drop(std::hint::black_box(vec![0u8; 1000])));
//!     assert!(peak >= 1000);
//! }
//! ```
//!
//! The counters are process-wide, so such a binary should hold a single test: nothing else may
//! allocate while [`peak_during`] measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Forwards every call to [`System`] and counts the live bytes and their peak.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` with this layout, in `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Peak bytes allocated while `f` runs, above what was live before.
///
/// # Panics
///
/// If [`CountingAlloc`] is not the global allocator of this binary: every measurement would read
/// 0 and every bound would pass.
pub fn peak_during(f: impl FnOnce()) -> usize {
    let before = CURRENT.load(Ordering::SeqCst);
    let probe = std::hint::black_box(vec![0u8; 64]);
    let counted = CURRENT.load(Ordering::SeqCst) != before;
    drop(probe);
    assert!(
        counted,
        "declare `#[global_allocator] static A: CountingAlloc = CountingAlloc;` in this test binary"
    );

    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

#[cfg(test)]
mod tests {
    /// This unit-test binary keeps the system allocator, so a measurement would read 0.
    #[test]
    #[should_panic(expected = "#[global_allocator]")]
    fn refuses_to_measure_without_the_counting_allocator() {
        super::peak_during(|| drop(std::hint::black_box(vec![0u8; 1000])));
    }
}
