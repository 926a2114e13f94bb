//! Locking shared state: a mutex whose holder panicked is still usable (a panicked test thread must not
//! cascade into every later request).

use std::sync::{Mutex, MutexGuard};

/// Lock a mutex, recovering from poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
