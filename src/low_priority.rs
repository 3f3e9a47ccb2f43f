//! Threads for CPU-heavy work that must yield to chat (searches, password hashing): a few of
//! their own, at a lower CPU priority than the rest of the server, so that on a busy two-core
//! machine a burst of searches or a login flood slows itself, not the delivery of chat
//! messages. (Tokio's blocking pool is shared with everything else, and a thread's priority
//! cannot be raised again once lowered, so this work cannot borrow it.)

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A fixed set of lowered threads, and one slot per thread: work waits for a slot in async
/// code (where a caller that gives up stops waiting), not in the pool's queue. A slot is held
/// until its work ends, even when the caller has given up meanwhile, so the pool never holds
/// more work than threads.
pub struct LowPriorityPool {
    slots: Arc<Semaphore>,
    threads: rayon::ThreadPool,
}

/// The pool is shutting down, or the work panicked: there is no answer.
#[derive(Debug)]
pub struct NoAnswer;

impl LowPriorityPool {
    /// `threads` threads named `name-N` at nice value `nice` (0-19).
    pub fn new(name: &'static str, threads: usize, nice: i32) -> anyhow::Result<Self> {
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |n| format!("{name}-{n}"))
            .start_handler(move |_| lower_this_thread(name, nice))
            // A panic drops the answer's sender, so the caller gets `NoAnswer` and the thread
            // goes on (rayon aborts the process without a handler).
            .panic_handler(move |_| tracing::error!(pool = name, "work panicked"))
            .build()?;
        Ok(Self {
            slots: Arc::new(Semaphore::new(threads.current_num_threads())),
            threads,
        })
    }

    /// Runs `work` on one of the pool's threads once one is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NoAnswer> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NoAnswer)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            let done = work();
            // Free before answering, so the next caller finds the slot the answer vacated.
            drop(slot);
            // The caller may have gone meanwhile; nobody to answer then.
            let _ = answer.send(done);
        });
        answered.await.map_err(|_| NoAnswer)
    }
}

/// Lowers the calling thread to nice value `nice` (0-19). `pool` names the work in the warning
/// logged if the system refuses.
///
/// Only for threads that hold no lock the chat waits for: a lowered thread preempted while
/// holding one stalls every worker that needs it.
#[cfg(target_os = "linux")]
fn lower_this_thread(pool: &str, nice: i32) {
    if nice == 0 {
        return;
    }
    // On Linux a thread id names one thread: only this one is lowered.
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!(
            pool,
            nice,
            %error,
            "could not lower a thread's priority; its work competes with chat"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread(_pool: &str, _nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("priority")
    }

    #[tokio::test]
    async fn work_runs_at_the_nice_value_asked_and_a_panic_is_no_answer() {
        // 19: lowering is allowed however nice the test itself already runs.
        let before = own_nice();
        let pool = LowPriorityPool::new("test", 2, 19).expect("pool");
        assert_eq!(pool.run(own_nice).await.expect("answer"), 19);
        assert_eq!(own_nice(), before, "only the pool's threads are lowered");
        assert!(pool.run(|| panic!("on purpose")).await.is_err());
        assert_eq!(pool.run(|| 7).await.expect("the pool goes on"), 7);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_keeps_its_slot_until_the_work_ends() {
        let pool = LowPriorityPool::new("test", 1, 0).expect("pool");
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            pool.run(move || {
                let _ = started.send(());
                let _ = released.recv();
            }),
        );
        assert!(gave_up.await.is_err(), "the work was still running");
        has_started.await.expect("the work started");
        assert_eq!(pool.slots.available_permits(), 0, "its slot is still taken");
        release.send(()).expect("release");
        // The next caller gets the thread once the abandoned work is done.
        assert_eq!(pool.run(|| 5).await.expect("answer"), 5);
        assert_eq!(pool.slots.available_permits(), 1);
    }
}
