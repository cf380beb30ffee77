//! Password hashing: Argon2id with OWASP parameters (m = 19 MiB, t = 2, p = 1),
//! run off the async runtime on low-priority threads, one per core, so a login
//! flood queues instead of starving other requests. Legacy bcrypt hashes verify
//! and are flagged for re-hashing.

use std::{
    sync::{Arc, LazyLock, Mutex, mpsc},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        PasswordHasher as _,
        phc::{Output, PasswordHash},
    },
};
use tokio::sync::oneshot;

use crate::{
    http::error::{ApiError, FieldError},
    memory::release_free_memory,
};

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but stored in a legacy format: re-hash and store.
    YesNeedsRehash,
}

impl Verified {
    pub fn ok(self) -> bool {
        self != Verified::No
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid params"),
    )
}

/// Argon2 working memory (m KiB), reused from one verification to the next.
/// Allocating 19 MiB per login let glibc's heap grow to ~500 MB under a login
/// flood (its dynamic mmap threshold leaves the freed blocks in fragmented
/// arenas), and freshly mapped memory costs ~4,900 page faults per hash.
type Memory = Vec<Block>;

/// Verifies an Argon2 PHC hash in caller-provided working memory.
fn verify_argon2(password: &str, parsed: &PasswordHash, memory: &mut Memory) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm.as_str()), Params::try_from(parsed)) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version.unwrap_or_default(), params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    // Output's PartialEq compares in constant time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash to verify against when no account matches, so unknown emails take as
/// long as wrong passwords.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_blocking("dummy-password-for-timing-equalisation"));

fn hash_blocking(password: &str) -> String {
    argon2()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing cannot fail")
        .to_string()
}

fn verify_blocking(password: &str, stored: Option<&str>, memory: &mut Memory) -> Verified {
    let Some(stored) = stored else {
        let _ = verify_blocking(password, Some(&DUMMY_HASH), memory);
        return Verified::No;
    };
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesNeedsRehash,
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    if !verify_argon2(password, &parsed, memory) {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m") == Some(19 * 1024)
        && parsed.params.get_decimal("t") == Some(2);
    if current {
        Verified::Yes
    } else {
        Verified::YesNeedsRehash
    }
}

/// Work for a hashing thread, given Argon2 working memory; answers whether it
/// ran (it is skipped when nobody waits for it any more).
type Job = Box<dyn FnOnce(&mut Memory) -> bool + Send>;

/// Runs password hashing on its own threads, one per core, so a login flood
/// queues here instead of occupying the async runtime or the blocking pool.
/// On Linux those threads run at the lowest CPU priority (nice 19): logins still
/// use every idle cycle, but request handling and PostgreSQL preempt them, so
/// a flood of logins barely moves other requests' latency.
#[derive(Clone, Debug)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
}

/// Niceness of the hashing threads (0 = normal, 19 = lowest).
const HASHING_NICENESS: i32 = 19;

/// After this long without a job the working buffers (19 MiB each, one per
/// thread that hashed) go back to the operating system: a burst of sign-ins
/// would otherwise leave them in the idle server's RSS for ever.
const RELEASE_IDLE_MEMORY_AFTER: Duration = Duration::from_secs(5);

/// What the hashing threads share: the job queue and the working buffers not in
/// use. A buffer is reused from one job to the next while jobs keep coming (a
/// fresh 19 MiB mapping costs ~4,900 page faults per hash).
struct HashingQueue {
    jobs: Mutex<mpsc::Receiver<Job>>,
    spare: Mutex<Vec<Memory>>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(HashingQueue {
            jobs: Mutex::new(queue),
            spare: Mutex::new(Vec::new()),
        });
        for i in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tenantry-hash-{i}"))
                .spawn(move || hashing_thread(&queue))
                .expect("spawn a password hashing thread");
        }
        Self { jobs }
    }
}

/// Runs jobs until every [`Passwords`] handle is gone.
fn hashing_thread(queue: &HashingQueue) {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::nice(HASHING_NICENESS) {
        tracing::warn!(error = ?e.to_string(), "could not lower the priority of a password hashing thread");
    }
    loop {
        // The thread waiting here holds the queue; the others wait for it.
        let next = queue
            .jobs
            .lock()
            .expect("hashing queue poisoned")
            .recv_timeout(RELEASE_IDLE_MEMORY_AFTER);
        let job = match next {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // No job for a while, so no thread is hashing: every buffer is spare.
                let idle = std::mem::take(&mut *queue.spare.lock().expect("hashing buffers poisoned"));
                if !idle.is_empty() {
                    drop(idle);
                    release_free_memory();
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut memory = queue
            .spare
            .lock()
            .expect("hashing buffers poisoned")
            .pop()
            .unwrap_or_default();
        let started = thread_cpu_time();
        // A panicking job must not take the thread with it; its caller sees the
        // dropped reply channel.
        if let Ok(true) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory))) {
            metrics::histogram!("password_hash_cpu_seconds").record((thread_cpu_time() - started).as_secs_f64());
        }
        queue.spare.lock().expect("hashing buffers poisoned").push(memory);
    }
}

/// CPU time of the calling thread: what a hash costs, whatever else runs.
fn thread_cpu_time() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Passwords {
    /// Queues `work` for a hashing thread; skipped if the caller has gone away
    /// (its request timed out or was dropped while it waited in the queue).
    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Memory) -> T + Send + 'static) -> T {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if reply.is_closed() {
                return false;
            }
            let _ = reply.send(work(memory));
            true
        });
        self.jobs.send(job).expect("password hashing threads are running");
        answer.await.expect("password hashing job panicked")
    }

    pub async fn hash(&self, password: &str) -> String {
        let password = password.to_owned();
        self.run(move |_| hash_blocking(&password)).await
    }

    /// Verifies `password`; with `stored = None` burns the same time and fails.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Verified {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        self.run(move |memory| verify_blocking(&password, stored.as_deref(), memory))
            .await
    }
}

static COMMON: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// The password policy: 12–128 characters, not the email (or its local part),
/// not a common password. Violations name the rule.
pub fn check_policy(field: &str, password: &str, email: Option<&str>) -> Result<(), ApiError> {
    let len = password.chars().count();
    let problem = if len < 12 {
        Some("must be at least 12 characters")
    } else if len > 128 {
        Some("must be at most 128 characters")
    } else if email.is_some_and(|e| {
        let p = password.to_lowercase();
        let e = e.to_lowercase();
        p == e || e.split('@').next().is_some_and(|local| local.len() >= 4 && p == local)
    }) {
        Some("must not be the email address")
    } else if COMMON.contains(password.to_lowercase().as_str()) {
        Some("is too common; choose a less guessable password")
    } else {
        None
    };
    match problem {
        Some(msg) => Err(ApiError::Validation(vec![FieldError::new(field, msg)])),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip_and_bcrypt_upgrade() {
        let h = hash_blocking("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify_blocking("correct horse battery staple", Some(&h), &mut Vec::new()),
            Verified::Yes
        );
        assert_eq!(verify_blocking("wrong", Some(&h), &mut Vec::new()), Verified::No);
        let b = bcrypt::hash("legacy-password-1", 4).unwrap();
        assert_eq!(
            verify_blocking("legacy-password-1", Some(&b), &mut Vec::new()),
            Verified::YesNeedsRehash
        );
        assert_eq!(verify_blocking("nope", Some(&b), &mut Vec::new()), Verified::No);
        assert_eq!(verify_blocking("x", None, &mut Vec::new()), Verified::No);
    }

    #[tokio::test]
    async fn hashing_threads_verify_at_low_priority_and_record_their_cpu() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse battery staple").await;
        assert_eq!(
            passwords.verify("correct horse battery staple", Some(&hash)).await,
            Verified::Yes
        );
        assert_eq!(passwords.verify("wrong", Some(&hash)).await, Verified::No);
        assert_eq!(passwords.verify("x", None).await, Verified::No);
        // The thread that ran the job reports its own niceness.
        let niceness = passwords.run(|_| rustix::process::getpriority_process(None)).await;
        if cfg!(target_os = "linux") {
            assert_eq!(niceness.expect("getpriority"), HASHING_NICENESS);
        }
        assert!(thread_cpu_time() > std::time::Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_has_gone_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let passwords = Passwords::default();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        // Keep every hashing thread busy until released.
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (started_tx, started) = mpsc::channel::<()>();
        let busy: Vec<_> = (0..cores)
            .map(|_| {
                let (p, held, started_tx) = (passwords.clone(), held.clone(), started_tx.clone());
                tokio::spawn(async move {
                    p.run(move |_| {
                        started_tx.send(()).unwrap();
                        held.lock().unwrap().recv().unwrap();
                    })
                    .await
                })
            })
            .collect();
        for _ in 0..cores {
            started.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        }
        // Queue a job, then give up on it before a thread is free.
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let queued = passwords.run(move |_| flag.store(true, Ordering::SeqCst));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), queued)
                .await
                .is_err()
        );
        for _ in 0..cores {
            release.send(()).unwrap();
        }
        for b in busy {
            b.await.unwrap();
        }
        // Jobs queued after it have run, so it has been taken off the queue.
        for _ in 0..cores {
            passwords.run(|_| ()).await;
        }
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }

    #[test]
    fn policy_names_the_rule() {
        assert!(check_policy("password", "short", None).is_err());
        assert!(check_policy("password", "alice@example.com", Some("alice@example.com")).is_err());
        assert!(check_policy("password", "password1234", None).is_err());
        assert!(check_policy("password", "a-Long-unusual-passphrase", Some("alice@example.com")).is_ok());
    }
}
