//! Threads for CPU-heavy work that must yield to chat (searches, password hashing): a few of
//! their own, at a lower CPU priority than the rest of the server, so that on a busy two-core
//! machine a burst of searches or a login flood slows itself, not the delivery of chat
//! messages. (Tokio's blocking pool is shared with everything else, and a thread's priority
//! cannot be raised again once lowered, so this work cannot borrow it.)

use tokio::sync::Semaphore;

/// A fixed set of lowered threads, and one slot per thread: work waits for a slot in async
/// code (where a caller that gives up stops waiting), not in the pool's queue.
pub struct LowPriorityPool {
    slots: Semaphore,
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
            slots: Semaphore::new(threads.current_num_threads()),
            threads,
        })
    }

    /// Runs `work` on one of the pool's threads once one is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NoAnswer> {
        let _slot = self.slots.acquire().await.map_err(|_| NoAnswer)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            // The caller may have gone meanwhile; nobody to answer then.
            let _ = answer.send(work());
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
}
