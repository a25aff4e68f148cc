//! The async API (feature `tokio`): [`AsyncStore`], with the blocking [`Store`]'s methods as
//! futures, and [`AsyncGuard`], whose keeper is driven by a tokio task.

mod contract;
mod guard;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Evict, Holder, Lease, Release, Renew, StoreId};
use leasehold_core::{FencingToken, RequestId};

pub use guard::AsyncGuard;
#[cfg(feature = "postgres")]
use leasehold_postgres::AsyncPgStore;

use crate::error::Error;
use crate::store::{Options, Store};
#[cfg(feature = "postgres")]
use crate::url::Location;

/// A lock store for async callers: the methods of [`Store`] as futures, and
/// [`hold`](AsyncStore::hold).
///
/// PostgreSQL calls go through its own async store (`AsyncPgStore`); SQLite has no async driver,
/// so each of its calls runs on tokio's blocking pool (`spawn_blocking`) and never blocks a
/// worker thread. Cheap to clone; clones share one store.
///
/// # Cancellation
///
/// Dropping a future of the SQLite store (a `tokio::time::timeout`, a `select!` branch that
/// lost) does not stop its call: a thread on the blocking pool cannot be interrupted, so a
/// waiting [`acquire_for`](AsyncStore::acquire_for) goes on waiting until its own timeout. What
/// the acquiring methods ([`try_acquire`](AsyncStore::try_acquire),
/// [`try_acquire_with_id`](AsyncStore::try_acquire_with_id), `acquire_for`,
/// [`acquire_until`](AsyncStore::acquire_until), and so [`hold`](AsyncStore::hold)) are granted
/// after their future was dropped is released at once, best effort (a release that fails leaves
/// the lease to expire within its ttl). Meanwhile the cancelled call still takes its place in
/// the line of waiters, and its grant and release are seen by others (a fencing token is used
/// up). Other calls (renew, release, evict, prune) complete as if they had not been cancelled.
#[derive(Clone, Debug)]
pub struct AsyncStore {
    backend: AsyncBackend,
}

/// The stores this build has, as async callers reach them. A store with an async driver of its
/// own is one variant here and one arm per method.
#[derive(Clone, Debug)]
enum AsyncBackend {
    /// A blocking store, called on tokio's blocking pool.
    Blocking(Store),
    /// PostgreSQL's own async store.
    #[cfg(feature = "postgres")]
    Postgres(Arc<AsyncPgStore>),
}

/// Runs `f` on tokio's blocking pool with a clone of `store`.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result,
        // A store that panicked: do not turn a bug into an error value.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::RuntimeShutdown),
    }
}

/// [`blocking`] for a call that may grant a lease: if the future is dropped before it completes
/// (a `tokio::time::timeout`, a `select!`), the call still runs to its end on the blocking pool
/// (a thread cannot be interrupted), and a lease it grants then is released at once, best
/// effort, instead of being held by nobody until it expires.
async fn blocking_acquire(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<Acquire, Error> + Send + 'static,
) -> Result<Acquire, Error> {
    let handoff = Arc::new(Mutex::new(Handoff::Waiting));
    let mut watch = CancelOnDrop {
        handoff: Arc::clone(&handoff),
        store: store.clone(),
        armed: true,
    };
    let answer = blocking(store, move |s| {
        let answer = f(s);
        if let Ok(Acquire::Granted(lease)) = &answer {
            let mut state = handoff.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*state, Handoff::Cancelled) {
                drop(state);
                let _ = s.release(lease);
            } else {
                *state = Handoff::Granted(lease.clone());
            }
        }
        answer
    })
    .await;
    watch.armed = false;
    answer
}

/// Between a granting call on the blocking pool and the future that waits for it.
enum Handoff {
    /// The call has not granted anything (yet).
    Waiting,
    /// The call granted this lease; the future has not taken it (yet).
    Granted(Lease),
    /// The future was dropped: whatever is granted from now on is released by the call itself.
    Cancelled,
}

/// Marks a granting call cancelled when its future is dropped before it completed, and releases
/// a lease granted but not yet delivered.
struct CancelOnDrop {
    handoff: Arc<Mutex<Handoff>>,
    store: Store,
    /// Cleared once the answer was delivered to the caller.
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.handoff.lock().unwrap_or_else(PoisonError::into_inner);
        if let Handoff::Granted(lease) = std::mem::replace(&mut *state, Handoff::Cancelled) {
            let store = self.store.clone();
            // A drop cannot block a worker thread: release on the blocking pool, if there is
            // still a runtime (if not, the lease expires within its ttl).
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn_blocking(move || store.release(&lease));
            }
        }
    }
}

impl From<Store> for AsyncStore {
    fn from(store: Store) -> Self {
        Self {
            backend: AsyncBackend::Blocking(store),
        }
    }
}

impl AsyncStore {
    /// [`open`](crate::open), for async callers.
    ///
    /// # Errors
    ///
    /// As [`open`](crate::open).
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(url, Options::new()).await
    }

    /// [`open_with`](crate::open_with), for async callers.
    ///
    /// # Errors
    ///
    /// As [`open`](crate::open).
    pub async fn open_with(url: &str, options: Options) -> Result<Self, Error> {
        #[cfg(feature = "postgres")]
        if let Location::Postgres(url) = Location::parse(url)? {
            let store = AsyncPgStore::connect_with(&url, options.postgres()).await?;
            return Ok(Self {
                backend: AsyncBackend::Postgres(Arc::new(store)),
            });
        }
        let url = url.to_owned();
        match tokio::task::spawn_blocking(move || crate::open_with(&url, options)).await {
            Ok(store) => Ok(Self::from(store?)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::RuntimeShutdown),
        }
    }

    /// See [`Store::store_id`].
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.store_id(),
            AsyncBackend::Blocking(store) => store.store_id(),
        }
    }

    /// See [`Store::new_request_id`].
    #[must_use]
    pub fn new_request_id(&self) -> RequestId {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.new_request_id(),
            AsyncBackend::Blocking(store) => store.new_request_id(),
        }
    }

    /// See [`Store::try_acquire`].
    ///
    /// # Errors
    ///
    /// As [`Store::try_acquire`].
    pub async fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .try_acquire(resource, owner, ttl)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let (resource, owner) = (resource.to_owned(), owner.to_owned());
                blocking_acquire(store, move |s| s.try_acquire(&resource, &owner, ttl)).await
            }
        }
    }

    /// See [`Store::try_acquire_with_id`].
    ///
    /// # Errors
    ///
    /// As [`Store::try_acquire`].
    pub async fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .try_acquire_with_id(resource, owner, ttl, request_id)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let (resource, owner) = (resource.to_owned(), owner.to_owned());
                blocking_acquire(store, move |s| {
                    s.try_acquire_with_id(&resource, &owner, ttl, request_id)
                })
                .await
            }
        }
    }

    /// See [`Store::acquire_for`].
    ///
    /// # Errors
    ///
    /// As [`Store::try_acquire`].
    pub async fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .acquire_for(resource, owner, ttl, timeout)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let (resource, owner) = (resource.to_owned(), owner.to_owned());
                blocking_acquire(store, move |s| {
                    s.acquire_for(&resource, &owner, ttl, timeout)
                })
                .await
            }
        }
    }

    /// See [`Store::acquire_until`].
    ///
    /// # Errors
    ///
    /// As [`Store::try_acquire`].
    pub async fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .acquire_until(resource, owner, ttl, deadline)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let (resource, owner) = (resource.to_owned(), owner.to_owned());
                blocking_acquire(store, move |s| {
                    s.acquire_until(&resource, &owner, ttl, deadline)
                })
                .await
            }
        }
    }

    /// See [`Store::renew`].
    ///
    /// # Errors
    ///
    /// As [`Store::renew`].
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.renew(lease, ttl).await.map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let lease = lease.clone();
                blocking(store, move |s| s.renew(&lease, ttl)).await
            }
        }
    }

    /// See [`Store::release`].
    ///
    /// # Errors
    ///
    /// As [`Store::release`].
    pub async fn release(&self, lease: &Lease) -> Result<Release, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.release(lease).await.map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let lease = lease.clone();
                blocking(store, move |s| s.release(&lease)).await
            }
        }
    }

    /// See [`Store::renew_by_token`].
    ///
    /// # Errors
    ///
    /// As [`Store::renew`].
    pub async fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .renew_by_token(resource, token, ttl)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let resource = resource.to_owned();
                blocking(store, move |s| s.renew_by_token(&resource, token, ttl)).await
            }
        }
    }

    /// See [`Store::release_by_token`].
    ///
    /// # Errors
    ///
    /// As [`Store::release`].
    pub async fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> Result<Release, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store
                .release_by_token(resource, token)
                .await
                .map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let resource = resource.to_owned();
                blocking(store, move |s| s.release_by_token(&resource, token)).await
            }
        }
    }

    /// See [`Store::holder`].
    ///
    /// # Errors
    ///
    /// As [`Store::holder`].
    pub async fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.holder(resource).await.map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let resource = resource.to_owned();
                blocking(store, move |s| s.holder(&resource)).await
            }
        }
    }

    /// See [`Store::holders`].
    ///
    /// # Errors
    ///
    /// As [`Store::holders`].
    pub async fn holders(&self) -> Result<Vec<Holder>, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.holders().await.map_err(Error::from),
            AsyncBackend::Blocking(store) => blocking(store, Store::holders).await,
        }
    }

    /// See [`Store::evict`].
    ///
    /// # Errors
    ///
    /// As [`Store::evict`].
    pub async fn evict(&self, resource: &str) -> Result<Evict, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.evict(resource).await.map_err(Error::from),
            AsyncBackend::Blocking(store) => {
                let resource = resource.to_owned();
                blocking(store, move |s| s.evict(&resource)).await
            }
        }
    }

    /// See [`Store::prune`].
    ///
    /// # Errors
    ///
    /// As [`Store::prune`].
    pub async fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            AsyncBackend::Postgres(store) => store.prune(idle_for).await.map_err(Error::from),
            AsyncBackend::Blocking(store) => blocking(store, move |s| s.prune(idle_for)).await,
        }
    }
}
