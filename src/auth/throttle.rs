//! Login throttling: a fixed window of failures per key (a client address, a username).

use std::collections::HashMap;
use std::sync::Mutex;

pub struct LoginThrottle {
    max_failures: u32,
    window_ms: u64,
    failures: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started_ms: u64,
    count: u32,
}

/// Entries kept before old windows are pruned, so spraying usernames cannot grow memory forever.
const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window_ms: u64) -> Self {
        Self {
            max_failures,
            window_ms,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, or None if it may try now.
    #[cfg(test)]
    fn retry_after(&self, key: &str, now_ms: u64) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.wait_for(failures.get(key)?, now_ms)
    }

    /// Lets an attempt through if no key is blocked, counting it as a failure on every key at
    /// once, so that concurrent attempts cannot all pass the check before any of them fails.
    /// An attempt that turns out not to be a failure is `withdraw`n. Otherwise returns the
    /// seconds to wait.
    pub fn admit(&self, keys: &[String], now_ms: u64) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|key| self.wait_for(failures.get(key)?, now_ms))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in keys {
            self.count(&mut failures, key, now_ms);
        }
        Ok(())
    }

    /// Takes back one attempt counted by `admit` (it succeeded, or was never checked).
    pub fn withdraw(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = failures.get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }

    fn wait_for(&self, window: &Window, now_ms: u64) -> Option<u64> {
        let ends = window.started_ms + self.window_ms;
        (window.count >= self.max_failures && now_ms < ends)
            .then(|| (ends - now_ms).div_ceil(1000).max(1))
    }

    fn count(&self, failures: &mut HashMap<String, Window>, key: &str, now_ms: u64) {
        if failures.len() > PRUNE_ABOVE {
            let window = self.window_ms;
            failures.retain(|_, w| now_ms < w.started_ms + window);
        }
        let entry = failures.entry(key.to_string()).or_insert(Window {
            started_ms: now_ms,
            count: 0,
        });
        if now_ms >= entry.started_ms + self.window_ms {
            *entry = Window {
                started_ms: now_ms,
                count: 0,
            };
        }
        entry.count += 1;
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admitted_attempts_count_until_withdrawn() {
        let throttle = LoginThrottle::new(2, 60_000);
        let keys = ["ip:1".to_string(), "user:a".to_string()];
        // Two attempts in flight use up the allowance before either has failed.
        assert!(throttle.admit(&keys, 1_000).is_ok());
        assert!(throttle.admit(&keys, 1_000).is_ok());
        assert_eq!(throttle.admit(&keys, 1_000), Err(60));
        // One of them succeeded: its address gets the attempt back.
        throttle.withdraw("ip:1");
        throttle.clear("user:a");
        assert!(throttle.admit(&keys, 1_000).is_ok());
        assert!(throttle.retry_after("ip:1", 1_000).is_some());
    }

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let throttle = LoginThrottle::new(3, 60_000);
        for _ in 0..3 {
            assert!(throttle.retry_after("ip:1", 1_000).is_none());
            throttle
                .admit(&["ip:1".to_string()], 1_000)
                .expect("admitted");
        }
        assert_eq!(throttle.retry_after("ip:1", 1_000), Some(60));
        assert!(throttle.retry_after("ip:2", 1_000).is_none());
        assert!(throttle.retry_after("ip:1", 61_000).is_none());
        throttle.clear("ip:1");
        assert!(throttle.retry_after("ip:1", 2_000).is_none());
    }
}
