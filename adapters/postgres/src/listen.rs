//! The listener: one connection per store that `LISTEN`s on the schema's channel and wakes the
//! store's waiters when a release or an eviction by any store commits (see [`Listen`]).
//!
//! It is only a hint about *when* to try: every grant is still the acquire statement's decision,
//! and a waiter that hears nothing tries at the end of each pause and at the holder's expiry
//! anyway. So nothing here ever fails a caller. A listener that cannot connect, loses its
//! connection, or finds that its `LISTEN` did not stick (a transaction pooler hands each
//! transaction to another server session) gives up its connection and tries again later, with a
//! backoff from 1 s to 60 s.
//!
//! The listener's statements are not the store's: they do not pass the statement seam.

use std::future::poll_fn;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};

use crate::options::Listen;
use crate::sql::channel_prefix;
use crate::wait::Waiters;

/// The listener's `application_name` unless its URL names one.
const APPLICATION_NAME: &str = "leasehold-listener";
/// How often the listener checks that its connection is alive and still listening.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// The first pause before connecting again, and the longest.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// A store's listener: what it connects to, and its task once a waiter started it.
pub(crate) struct Listener {
    spec: Option<Arc<Spec>>,
    waiters: Arc<Waiters>,
    task: Mutex<Option<Task>>,
}

/// Where and how the listener connects.
struct Spec {
    config: Config,
    schema: String,
    connect_timeout: Duration,
    io_timeout: Option<Duration>,
}

/// A running listener. Dropping it (or its `stop`) ends the task, which closes its connection.
struct Task {
    handle: JoinHandle<()>,
    stop: watch::Sender<()>,
}

impl Listener {
    /// A listener for `listen`, where `store_url` is the store's own (`None` for a client or a
    /// pool); it connects nowhere until [`Listener::start`].
    pub(crate) fn new(
        listen: &Listen,
        store_url: Option<&Config>,
        schema: &str,
        waiters: Arc<Waiters>,
        timeouts: (Duration, Option<Duration>),
    ) -> Result<Self, crate::Error> {
        let config = match listen {
            Listen::StoreUrl => store_url.cloned(),
            Listen::Url(url) => Some(url.parse().map_err(crate::Error::InvalidUrl)?),
            Listen::Off => None,
        };
        let spec = config.map(|mut config| {
            config.connect_timeout(timeouts.0);
            if config.get_application_name().is_none() {
                config.application_name(APPLICATION_NAME);
            }
            Arc::new(Spec {
                config,
                schema: schema.to_owned(),
                connect_timeout: timeouts.0,
                io_timeout: timeouts.1,
            })
        });
        Ok(Self {
            spec,
            waiters,
            task: Mutex::new(None),
        })
    }

    /// Starts the listener on `runtime` unless it runs already (or the store does not listen).
    /// A listener whose runtime was shut down is started again.
    pub(crate) fn start(&self, runtime: &Handle) {
        let Some(spec) = &self.spec else {
            return;
        };
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_some_and(|t| !t.handle.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(());
        let run = run(Arc::clone(spec), Arc::clone(&self.waiters), stopped);
        *task = Some(Task {
            handle: runtime.spawn(run),
            stop,
        });
    }

    /// Stops the listener and waits (up to a second) until it has closed its connection.
    pub(crate) async fn close(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Task { handle, stop }) = task {
            drop(stop);
            let _ = tokio::time::timeout(Duration::from_secs(1), handle).await;
        }
    }
}

/// The listener's task: listens, and after each end connects again with a backoff, until
/// `stop` is dropped.
async fn run(spec: Arc<Spec>, waiters: Arc<Waiters>, mut stop: watch::Receiver<()>) {
    let mut retry = FIRST_RETRY;
    loop {
        let mut driver = None;
        let ended = tokio::select! {
            _ = stop.changed() => None,
            ended = listen(&spec, &waiters, &mut driver) => Some(ended),
        };
        let Some(ended) = ended else {
            // The session's client is gone: its driver says goodbye to the server and ends.
            if let Some(driver) = driver {
                let _ = tokio::time::timeout(Duration::from_secs(1), driver).await;
            }
            return;
        };
        if ended == Ended::AfterListening {
            retry = FIRST_RETRY;
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(jittered(retry)) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Between half of `retry` and `retry`, so that the listeners of many processes that lost the
/// server together do not all come back in the same instant.
fn jittered(retry: Duration) -> Duration {
    let half = retry / 2;
    let span = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    // A fresh `RandomState` has keys of its own: jitter needs spread, not secrecy.
    let random = RandomState::new().hash_one(Instant::now());
    half + Duration::from_micros(random % span)
}

/// How a listening session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// Before it had listened for a whole probe interval: back off further.
    Early,
    /// After listening for at least one probe interval: connect again soon.
    AfterListening,
}

/// One session: connects, listens and wakes `waiters` at each notification, until the
/// connection ends or a probe fails. The connection's driver is left in `driver`.
async fn listen(spec: &Spec, waiters: &Arc<Waiters>, driver: &mut Option<JoinHandle<()>>) -> Ended {
    let connecting = tokio::time::timeout(spec.connect_timeout, spec.config.connect(NoTls));
    let Ok(Ok((client, connection))) = connecting.await else {
        return Ended::Early;
    };
    // Dropping the client (when this session ends, or its future is dropped) makes the driver
    // say goodbye to the server and end.
    let driver = driver.insert(tokio::spawn(drive(connection, Arc::clone(waiters))));
    let Some(channel) = subscribe(spec, &client).await else {
        return Ended::Early;
    };
    let mut probes = 0_u32;
    loop {
        tokio::select! {
            _ = &mut *driver => break,
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
        if !still_listening(spec, &client, &channel).await {
            break;
        }
        probes += 1;
    }
    if probes > 0 {
        Ended::AfterListening
    } else {
        Ended::Early
    }
}

/// Drives the listener's connection, waking the waiters of each notification's resource (its
/// payload); ends with the connection.
async fn drive(mut connection: Connection<Socket, NoTlsStream>, waiters: Arc<Waiters>) {
    while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
        // The connection listens on one channel only: every notification is a release or an
        // eviction of this schema.
        if let AsyncMessage::Notification(notification) = message {
            waiters.wake(notification.payload());
        }
    }
}

/// The object id of the schema's lock table, which names its channel (`sql::notify!`).
///
/// `$1` schema name.
const LOCK_TABLE_OID: &str = "SELECT c.oid::bigint FROM pg_catalog.pg_class c \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE n.nspname = $1 AND c.relname = 'leasehold_locks'";

/// Finds the schema's channel and `LISTEN`s on it; `None` if either failed.
async fn subscribe(spec: &Spec, client: &Client) -> Option<String> {
    let schema = spec.schema.as_str();
    let params = [(&schema as _, Type::TEXT)];
    let found = client.query_typed(LOCK_TABLE_OID, &params);
    let oid: i64 = within(spec, found).await?.first()?.try_get(0).ok()?;
    let channel = format!("{}{oid}", channel_prefix!());
    // Digits and an underscore: the name needs no quoting.
    within(spec, client.batch_execute(&format!("LISTEN {channel}"))).await?;
    still_listening(spec, client, &channel)
        .await
        .then_some(channel)
}

/// Whether this session is listening on `$1`: a `LISTEN` belongs to a server session, and a
/// transaction pooler may run the next transaction in another one, which does not listen.
///
/// `$1` channel.
const LISTENING: &str = "SELECT pg_catalog.count(*) \
FROM pg_catalog.pg_listening_channels() AS c(name) WHERE c.name = $1";

/// Whether the connection still answers, and its session still listens on `channel`.
async fn still_listening(spec: &Spec, client: &Client, channel: &str) -> bool {
    let params = [(&channel as _, Type::TEXT)];
    let probe = client.query_typed(LISTENING, &params);
    let Some(rows) = within(spec, probe).await else {
        return false;
    };
    rows.first()
        .and_then(|row| row.try_get::<_, i64>(0).ok())
        .is_some_and(|count| count > 0)
}

/// `request`'s answer, if it came within the store's I/O timeout and was not an error.
async fn within<T>(
    spec: &Spec,
    request: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Option<T> {
    match spec.io_timeout {
        Some(after) => tokio::time::timeout(after, request).await.ok()?.ok(),
        None => request.await.ok(),
    }
}
