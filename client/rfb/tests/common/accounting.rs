//! A global allocator for test binaries that accounts, per thread, the bytes the thread holds
//! and their peak, and can refuse to let the thread grow past a limit (as a full wasm memory
//! does). Each test binary that uses it declares it with `#[global_allocator]`.

#![allow(dead_code)] // each binary uses part of it

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Accounting;

thread_local! {
    /// Bytes this thread holds.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The most it held since the last [`reset_peak`].
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// The most it may hold now, if limited (not while a test builds its input).
    static LIMIT: Cell<Option<isize>> = const { Cell::new(None) };
}

/// Whether `grow` more bytes may be granted to this thread.
fn grant(grow: isize) -> bool {
    match LIMIT.try_with(Cell::get).ok().flatten() {
        Some(limit) if grow > 0 => LIVE.try_with(Cell::get).unwrap_or(0) + grow <= limit,
        _ => true,
    }
}

fn account(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Accounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !grant(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !grant(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        account(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grow = new_size as isize - layout.size() as isize;
        if !grant(grow) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(grow);
        }
        p
    }
}

/// Bytes this thread holds.
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Starts a new peak measurement at the current live size.
pub fn reset_peak() {
    let v = live();
    PEAK.with(|p| p.set(v));
}

/// The most this thread held since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// Runs `f` with this thread refused any allocation that would make it hold more than `limit`
/// bytes.
pub fn limited<T>(limit: isize, f: impl FnOnce() -> T) -> T {
    LIMIT.with(|l| l.set(Some(limit)));
    let out = f();
    LIMIT.with(|l| l.set(None));
    out
}
