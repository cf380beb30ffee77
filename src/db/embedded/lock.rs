//! The lock file that serialises initialising and starting the cluster between
//! processes, broken when its owner has died.

use std::{
    fs, io,
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, ensure};
use tokio::time::sleep;

use super::{
    EMPTY_LOCK_GRACE, LOCK_TIMEOUT,
    server::{process_alive, read_pid},
};

/// An exclusive lock between processes: a file created with `O_EXCL` that holds the
/// owner's pid, removed on drop. A lock whose owner died is broken by the next waiter.
pub(super) struct LockFile {
    pub(super) path: PathBuf,
}

impl LockFile {
    pub(super) async fn acquire(path: &Path) -> Result<Self> {
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    let lock = Self { path: path.to_owned() };
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("could not write {}", path.display()))?;
                    return Ok(lock);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    if break_if_stale(path) {
                        continue;
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("could not create {}", path.display()));
                }
            }
            ensure!(
                Instant::now() < deadline,
                "timed out waiting for {}, held by another process (remove it if none is running)",
                path.display()
            );
            sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the lock at `path` if its owner is gone; true if it did. A second lock file
/// guards the check-and-remove, so that two waiters cannot both break the lock and
/// the second one remove the fresh lock of the first.
fn break_if_stale(path: &Path) -> bool {
    if !lock_is_stale(path) {
        return false;
    }
    let mut guard = path.as_os_str().to_owned();
    guard.push(".break");
    let guard = PathBuf::from(guard);
    match fs::OpenOptions::new().write(true).create_new(true).open(&guard) {
        Ok(_) => {
            let broken = lock_is_stale(path) && fs::remove_file(path).is_ok();
            let _ = fs::remove_file(&guard);
            broken
        }
        Err(_) => {
            // Its owner died between creating and removing it: a matter of microseconds.
            if file_age(&guard).is_some_and(|age| age > EMPTY_LOCK_GRACE) {
                let _ = fs::remove_file(&guard);
            }
            false
        }
    }
}

fn lock_is_stale(path: &Path) -> bool {
    match read_pid(path) {
        Some(pid) => !process_alive(pid),
        // Being written right now, or left empty by a crash.
        None => file_age(path).is_some_and(|age| age > EMPTY_LOCK_GRACE),
    }
}

fn file_age(path: &Path) -> Option<Duration> {
    fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}
