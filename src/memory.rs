//! Giving freed memory back to the operating system once the server is quiet.
//!
//! The allocator is mimalloc (see main.rs). It keeps a page that became empty
//! in the heap of the thread that used it, for that thread's next allocations,
//! and returns it only when that thread collects. A Tokio worker that served a
//! burst and then sleeps never does on its own: collecting when it parks gave
//! back 2–4 MB after a sign-in flood (bench/memory.sh).
//!
//! Most of it was transparent huge pages: mimalloc asks for them on its 1 GiB
//! arena, and with 2 MiB pages every page it touches costs 2 MiB of RSS and a
//! purge of 64 KiB frees nothing. Measured with bench/memory.sh: 41 MB idle and
//! 52–54 MB after a sign-in flood with them, 30–34 MB and 34–38 MB without.

use std::{cell::Cell, time::Duration, time::Instant};

/// How often a worker collects at most, when it goes idle: often enough that a
/// burst's pages are back within seconds, rarely enough to cost nothing under
/// load (a worker parks thousands of times a second).
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// Turns transparent huge pages off for the whole process (Linux; elsewhere a
/// no-op). Call first thing in `main`: the flag applies to every later page
/// fault, in every mapping, and is inherited by child processes.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("tenantry: could not turn transparent huge pages off: {e}");
    }
}

/// Returns the calling thread's empty pages, and every page whose purge delay
/// has passed, to the operating system now.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks mimalloc's own free lists; it is safe to call
    // from any thread at any time, and harmless when mimalloc is not the global
    // allocator (it then has nothing to collect).
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// For `on_thread_park` of the server's runtime: a worker about to sleep gives
/// its empty pages back, at most once per [`COLLECT_EVERY`].
pub fn collect_when_parking() {
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if LAST.get().is_some_and(|last| now.duration_since(last) < COLLECT_EVERY) {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: as in release_free_memory; not forced, so pages still in use are
    // left alone and only the arena's expired purges run.
    unsafe { libmimalloc_sys::mi_collect(false) };
}
