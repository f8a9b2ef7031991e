//! A bounded signing pool: at most `max_in_flight` signatures run at once, on blocking
//! threads, so that a burst of on-demand signing (multi-certificate requests, nonces,
//! unusual hash algorithms) can never starve the request path or an HSM session pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::{SignError, Signer};

/// Counters describing what the pool has done, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Signatures produced.
    pub signed: u64,
    /// Signatures that failed in the backend.
    pub failed: u64,
    /// Requests refused because the pool was saturated (see [`SigningPool::try_sign`]).
    pub refused: u64,
}

/// Bounds concurrent signing across every key that shares it.
#[derive(Debug)]
pub struct SigningPool {
    permits: Arc<Semaphore>,
    signed: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
}

impl SigningPool {
    /// A pool running at most `max_in_flight` signatures at once (at least one).
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            signed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Signs `message`, waiting for a free slot.
    pub async fn sign(
        &self,
        signer: &Arc<dyn Signer>,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, SignError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SignError::PoolClosed)?;
        self.run(signer, message, permit).await
    }

    /// Signs `message` only if a slot is free now; `Ok(None)` means the pool is saturated
    /// and the caller should shed the request (on-demand signing is best effort).
    pub async fn try_sign(
        &self,
        signer: &Arc<dyn Signer>,
        message: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, SignError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => self.run(signer, message, permit).await.map(Some),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(tokio::sync::TryAcquireError::Closed) => Err(SignError::PoolClosed),
        }
    }

    async fn run(
        &self,
        signer: &Arc<dyn Signer>,
        message: Vec<u8>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Vec<u8>, SignError> {
        let signer = Arc::clone(signer);
        let label = signer.label().to_owned();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            signer.sign(&message)
        })
        .await
        .unwrap_or_else(|join| {
            Err(SignError::Backend {
                label,
                reason: format!("signing task failed: {join}"),
            })
        });
        match &result {
            Ok(_) => self.signed.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            signed: self.signed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, SoftwareKey};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_pool_signs_and_sheds() {
        let pkcs8 = SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).unwrap();
        let key: Arc<dyn Signer> = Arc::new(SoftwareKey::from_pkcs8_der(&pkcs8, "k").unwrap());
        let pool = SigningPool::new(1);
        let sig = pool.sign(&key, b"a".to_vec()).await.unwrap();
        assert!(!sig.is_empty());
        // Hold the only permit: try_sign must shed instead of waiting.
        let held = pool.permits.clone().try_acquire_owned().unwrap();
        assert!(pool.try_sign(&key, b"b".to_vec()).await.unwrap().is_none());
        drop(held);
        assert!(pool.try_sign(&key, b"c".to_vec()).await.unwrap().is_some());
        assert_eq!(
            pool.stats(),
            PoolStats {
                signed: 2,
                failed: 0,
                refused: 1
            }
        );
    }
}
