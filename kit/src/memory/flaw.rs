//! [`Flaw`]: the bugs planted in a [`MemoryStore`](super::MemoryStore), and a marker type per
//! flaw ([`planted`]) so that a [`MemoryBackend`](super::MemoryBackend) can be named with one.

/// A planted bug: what a [`MemoryStore`](super::MemoryStore) gets wrong on purpose. Each suite of
/// the kit names the flaws it must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flaw {
    /// None: the reference store.
    None,
    /// The seed's bug: decide on a copy of the row, let others run, then write that decision
    /// unconditionally (numbering the token from the row as it is then).
    CheckThenAct,
    /// Every operation fails with a busy error: a store that never makes progress.
    AlwaysBusy,
    /// Release frees whatever lease the resource has, whoever holds it (the lost release).
    ReleaseByName,
    /// A retried acquire is not recognised: its own lost grant is reported `Busy`.
    NoReplay,
    /// The holder may acquire again while it holds the lease, and gets a new one.
    Reentrant,
    /// A waiting acquire tries once and returns at once, whatever its timeout.
    ReturnsEarly,
    /// A waiting acquire sleeps three times its timeout.
    ReturnsLate,
    /// Resource names are compared without case: `Plan` and `plan` are one lock.
    FoldsCase,
    /// Waiters poll every millisecond, without a line or a wake-up: a releaser that asks again
    /// at once wins its own lease back before a sleeping waiter wakes.
    NoTurns,
    /// Renew extends the resource's lease, whatever token it is given.
    RenewsAnyToken,
}

/// A marker type naming a [`Flaw`], for [`MemoryBackend`](super::MemoryBackend)`<F>`.
pub trait Planted: Default + Send + Sync + 'static {
    /// The flaw.
    const FLAW: Flaw;
}

/// One marker type per [`Flaw`].
pub mod planted {
    use super::{Flaw, Planted};

    macro_rules! markers {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct $name;

            impl Planted for $name {
                const FLAW: Flaw = Flaw::$name;
            }
        )*};
    }

    markers!(
        /// [`Flaw::None`]: the reference store.
        None,
        /// [`Flaw::CheckThenAct`].
        CheckThenAct,
        /// [`Flaw::AlwaysBusy`].
        AlwaysBusy,
        /// [`Flaw::ReleaseByName`].
        ReleaseByName,
        /// [`Flaw::NoReplay`].
        NoReplay,
        /// [`Flaw::Reentrant`].
        Reentrant,
        /// [`Flaw::ReturnsEarly`].
        ReturnsEarly,
        /// [`Flaw::ReturnsLate`].
        ReturnsLate,
        /// [`Flaw::FoldsCase`].
        FoldsCase,
        /// [`Flaw::NoTurns`].
        NoTurns,
        /// [`Flaw::RenewsAnyToken`].
        RenewsAnyToken,
    );
}
