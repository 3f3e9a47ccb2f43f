//! A token bucket for per-connection send rates, and buckets by key (per user, per webhook).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate_per_sec: f64::from(rate_per_sec),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// A bucket refilled by `per_minute` tokens a minute.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let mut bucket = Self::new(0, burst);
        bucket.rate_per_sec = f64::from(per_minute) / 60.0;
        bucket
    }

    /// Whole seconds until the next token (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        if self.rate_per_sec <= 0.0 {
            return 60;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        ((missing / self.rate_per_sec).ceil() as u64).max(1)
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One bucket per key (a username, a webhook id), made on first use, all with the same rate.
pub struct KeyedRates {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// Keys kept before the map is emptied: a forgotten bucket only starts full again.
const MAX_KEYS: usize = 10_000;

impl KeyedRates {
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket, or says how many whole seconds until there is one.
    pub fn try_take(&self, key: &str) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.clear();
        }
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| TokenBucket::per_minute(self.per_minute, self.burst));
        if bucket.try_take() {
            Ok(())
        } else {
            Err(bucket.retry_after_secs())
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3);
        bucket.last = start;
        assert!((0..3).all(|_| bucket.try_take_at(start)));
        assert!(!bucket.try_take_at(start));
        assert!(bucket.try_take_at(start + Duration::from_millis(100)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(100)));
    }
}
