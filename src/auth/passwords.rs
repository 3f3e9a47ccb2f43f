//! argon2id password hashing, off the async workers and with bounded concurrency: each hash
//! holds 19 MiB and a core for tens of milliseconds, so a login flood must queue, not pile up.
//! The hashing threads run at a lower priority (`auth.hash_nice`): a flood of wrong passwords
//! slows logins, not the chat of the people already in.

use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::low_priority::LowPriorityPool;

pub const PASSWORD_MIN_BYTES: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 1024;

pub struct PasswordHasher {
    /// `auth.hash_concurrency` threads at `auth.hash_nice`.
    threads: LowPriorityPool,
    /// Requests allowed to wait for a slot; past that, `Busy` (503) at once.
    queue: Arc<Semaphore>,
    /// A real hash of a random password, verified against for unknown usernames so that a
    /// login for a missing user costs the same time as one for an existing user.
    decoy_hash: String,
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum: m = 19 MiB, t = 2, p = 1 (the crate's defaults, named here).
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

impl PasswordHasher {
    pub fn new(concurrency: usize, queue: usize, nice: i32) -> anyhow::Result<Self> {
        let mut random = [0u8; 24];
        crate::ids::getrandom_fill(&mut random);
        let decoy_hash = hash_now(&String::from_utf8_lossy(&random)).unwrap_or_default();
        Ok(Self {
            threads: LowPriorityPool::new("hash", concurrency, nice)?,
            queue: Arc::new(Semaphore::new(concurrency + queue)),
            decoy_hash,
        })
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash_now(&password)).await?
    }

    /// Checks `password` against `phc`, or against the decoy when there is no user.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        let (phc, real) = match phc {
            Some(phc) => (phc, true),
            None => (self.decoy_hash.clone(), false),
        };
        let matches = self.run(move || verify_now(&password, &phc)).await?;
        Ok(real && matches)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _queued = self
            .queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy)?;
        self.threads
            .run(work)
            .await
            .map_err(|_| Error::ShuttingDown)
    }
}

/// Hashes synchronously (also used by the CLI, which has no runtime to protect).
pub fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| {
            Error::invalid(
                "invalid_password",
                format!("cannot hash this password: {err}"),
            )
        })
}

fn verify_now(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub fn validate_password(password: &str) -> Result<()> {
    let len = password.len();
    if !(PASSWORD_MIN_BYTES..=PASSWORD_MAX_BYTES).contains(&len) {
        return Err(Error::invalid(
            "invalid_password",
            format!("a password has {PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_unique_salts() {
        let a = hash_now("correct horse").expect("hash");
        let b = hash_now("correct horse").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(verify_now("correct horse", &a));
        assert!(!verify_now("wrong horse", &a));
        assert!(!verify_now("correct horse", "not a phc string"));
    }

    #[test]
    fn password_length_is_bounded_in_bytes() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(1024)).is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
