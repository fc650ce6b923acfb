//! Per-run memory accounting. Rhai bounds the size of each value, but a script can still
//! grow an object map through index assignment (`m[k] = v`), which the engine does not
//! size-check, and so allocate without bound within its operation budget. Counting the
//! bytes a script thread allocates while a run is armed closes that gap for every path.
//!
//! The allocator is global, so every allocation in the process pays one thread-local
//! read; only threads inside a trigger run do any counting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Net bytes one trigger run may allocate.
pub const MAX_RUN_BYTES: isize = 64 * 1024 * 1024;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static USED: Cell<isize> = const { Cell::new(0) };
}

pub struct CountingAlloc;

#[inline]
fn track(delta: isize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = USED.try_with(|used| used.set(used.get().saturating_add(delta)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only
// updates a thread-local counter and never allocates itself.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Starts counting this thread's allocations from zero.
pub fn arm() {
    USED.with(|u| u.set(0));
    ARMED.with(|a| a.set(true));
}

pub fn disarm() {
    ARMED.with(|a| a.set(false));
}

/// Net bytes allocated on this thread since [`arm`].
#[inline]
pub fn used() -> isize {
    USED.with(|u| u.get())
}
