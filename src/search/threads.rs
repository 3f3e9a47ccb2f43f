//! The threads searches run on: a few of their own, at a lower CPU priority than the rest of
//! the server, so that on a busy two-core machine a burst of searches slows searching, not the
//! delivery of chat messages. (Tokio's blocking pool is shared with everything else, and a
//! thread's priority cannot be raised again once lowered, so searches cannot borrow it.)

/// A pool of `threads` threads (`search.threads`) at nice value `nice` (0-19, `search.nice`).
pub fn pool(threads: usize, nice: i32) -> anyhow::Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|n| format!("search-{n}"))
        .start_handler(move |_| lower_priority(nice))
        // A panicking search drops its answer's sender: the request is answered 503 and the
        // thread goes on (rayon aborts the process without a handler).
        .panic_handler(|_| tracing::error!("a search panicked"))
        .build()?)
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // On Linux a thread id names one thread: only this one is lowered.
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!(
            nice,
            %error,
            "could not lower the priority of a search thread; searches compete with chat"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("priority")
    }

    #[test]
    fn search_threads_run_at_the_nice_value_asked() {
        // 19: lowering is allowed however nice the test itself already runs.
        let before = own_nice();
        let threads = pool(2, 19).expect("pool");
        assert_eq!(threads.install(own_nice), 19);
        assert_eq!(own_nice(), before, "only the pool's threads are lowered");
    }
}
