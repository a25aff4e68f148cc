//! One client thread of a history: it draws operations from what it knows (its lease, its last
//! request id, the last token it saw), runs them on its own store, and records each with the
//! sequence numbers taken just before the call and just after the answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use leasehold_contract::{Acquire, Evict, Holder, Lease, LockStore, Release, Renew, StoreError};
use leasehold_core::{
    AcquireOutcome, EvictOutcome, FencingToken, Grant, GrantKind, Holder as CoreHolder, Outcome,
    Owner, ReleaseOutcome, RenewOutcome, RequestId, ResourceName, Ttl,
};

use super::spec::{Op, Ret};
use crate::support::{Rng, ms};

/// The resources of every history: mostly the first, so that clients contend.
pub(super) const RESOURCES: [&str; 2] = ["lin/a", "lin/b"];

/// The durations of one phase: the ttls clients ask for, and how long a waiting acquire waits.
#[derive(Clone, Copy, Debug)]
pub(super) struct Durations {
    pub(super) ttls: &'static [u64],
    pub(super) wait: Duration,
}

/// One operation as it happened: its sequence number at invocation, and at its answer (`None`:
/// the store failed, so it may or may not have taken effect — it stays in flight).
#[derive(Clone, Debug)]
pub(super) struct Record {
    pub(super) invoked: u64,
    pub(super) op: Op,
    pub(super) returned: Option<(u64, Ret)>,
}

/// What one client knows between operations.
#[derive(Debug)]
pub(super) struct Client {
    owner: String,
    rng: Rng,
    lease: Option<Lease>,
    last_attempt: Option<(usize, RequestId)>,
    seen: Option<(usize, FencingToken)>,
}

/// Each client's sequence numbers come from one counter; a number taken after an answer is
/// larger than every number taken before that answer, by any thread.
type Seq = AtomicU64;

impl Client {
    pub(super) fn new(index: usize, seed: u64) -> Self {
        Self {
            owner: format!("client-{index}"),
            rng: Rng::new(seed),
            lease: None,
            last_attempt: None,
            seen: None,
        }
    }

    /// Runs `ops` operations on `store`; stops early after a store failure (the failed
    /// operation stays in flight, and a client has at most one in flight).
    pub(super) fn run<S: LockStore>(
        &mut self,
        store: &S,
        ops: usize,
        durations: Durations,
        seq: &Seq,
    ) -> Vec<Record> {
        let mut records = Vec::with_capacity(ops);
        for _ in 0..ops {
            let record = self.step(store, durations, seq);
            let failed = record.returned.is_none();
            records.push(record);
            if failed {
                break;
            }
        }
        records
    }

    fn step<S: LockStore>(&mut self, store: &S, durations: Durations, seq: &Seq) -> Record {
        let r = usize::from(self.rng.chance(20));
        let ttl = ms(durations.ttls[self.rng.index(durations.ttls.len())]);
        match self.rng.below(100) {
            0..30 => self.acquire(store, r, ttl, seq),
            30..40 => self.retry(store, ttl, seq),
            40..45 => self.acquire_for(store, r, ttl, durations.wait, seq),
            45..60 => self.renew(store, ttl, seq),
            60..78 => self.release(store, seq),
            78..84 => {
                let op = Op::Evict { resource: name(r) };
                call(seq, op, || store.evict(RESOURCES[r]).map(|a| evicted(a, r)))
            }
            84..94 => {
                let op = Op::Holder { resource: name(r) };
                call(seq, op, || store.holder(RESOURCES[r]).map(|h| holder(h, r)))
            }
            94..97 => call(seq, Op::Holders, || store.holders().map(holders)),
            _ => {
                let idle_ms = self.rng.below(2) * 10;
                let op = Op::Prune { idle_ms };
                call(seq, op, || store.prune(ms(idle_ms)).map(Ret::Pruned))
            }
        }
    }

    fn acquire<S: LockStore>(&mut self, store: &S, r: usize, ttl: Duration, seq: &Seq) -> Record {
        let id = store.new_request_id();
        self.last_attempt = Some((r, id));
        self.acquire_with(store, r, id, ttl, seq)
    }

    /// A retry after a lost reply: the last attempt's resource and request id again.
    fn retry<S: LockStore>(&mut self, store: &S, ttl: Duration, seq: &Seq) -> Record {
        match self.last_attempt {
            Some((r, id)) => self.acquire_with(store, r, id, ttl, seq),
            None => self.acquire(store, 0, ttl, seq),
        }
    }

    fn acquire_with<S: LockStore>(
        &mut self,
        store: &S,
        r: usize,
        id: RequestId,
        ttl: Duration,
        seq: &Seq,
    ) -> Record {
        let op = self.acquire_op(r, id, ttl);
        let owner = self.owner.clone();
        call(seq, op, || {
            let answer = store.try_acquire_with_id(RESOURCES[r], &owner, ttl, id)?;
            Ok::<_, S::Error>(self.learn_acquired(answer, r, Some(id)))
        })
    }

    /// A waiting acquire: the clock does not move during a history, so it is one attempt that
    /// counts (the last), and its request id is the store's (known from a grant; a `Busy`
    /// answer wrote nothing, so any id no record has gives the same answer).
    fn acquire_for<S: LockStore>(
        &mut self,
        store: &S,
        r: usize,
        ttl: Duration,
        wait: Duration,
        seq: &Seq,
    ) -> Record {
        let invoked = seq.fetch_add(1, Ordering::SeqCst);
        let answer = store.acquire_for(RESOURCES[r], &self.owner, ttl, wait);
        let returned = seq.fetch_add(1, Ordering::SeqCst);
        let id = match &answer {
            Ok(Acquire::Granted(lease)) => lease.request_id(),
            _ => RequestId::from_u128(0),
        };
        let op = self.acquire_op(r, id, ttl);
        let ret = answered(answer.map(|a| self.learn_acquired(a, r, None)));
        Record {
            invoked,
            op,
            returned: ret.map(|ret| (returned, ret)),
        }
    }

    fn acquire_op(&self, r: usize, request_id: RequestId, ttl: Duration) -> Op {
        Op::Acquire {
            resource: name(r),
            owner: Owner::new(self.owner.clone()).expect("client names are valid"),
            request_id,
            ttl: Ttl::from_duration(ttl).expect("the phase's ttls are valid"),
        }
    }

    fn learn_acquired(&mut self, answer: Acquire, r: usize, id: Option<RequestId>) -> Ret {
        match answer {
            Acquire::Granted(lease) => {
                let wrong = (lease.resource().as_str() != RESOURCES[r])
                    || (lease.owner().as_str() != self.owner)
                    || id.is_some_and(|id| id != lease.request_id());
                if wrong {
                    return Ret::Malformed(format!("a grant for another request: {lease:?}"));
                }
                self.seen = Some((r, lease.token()));
                let grant = Grant {
                    token: lease.token(),
                    acquired_at: lease.acquired_at(),
                    expires_at: lease.expires_at(),
                    kind: GrantKind::New,
                };
                self.lease = Some(lease);
                Ret::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(grant))))
            }
            Acquire::Busy(holder) => {
                self.seen = Some((r, holder.token()));
                match core_holder(&holder, r) {
                    Ok(h) => Ret::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Busy(h)))),
                    Err(wrong) => wrong,
                }
            }
        }
    }

    /// Renews the client's lease, or (by resource and token) the last token it saw.
    fn renew<S: LockStore>(&mut self, store: &S, ttl: Duration, seq: &Seq) -> Record {
        let Some((r, token, lease)) = self.target() else {
            return self.acquire(store, 0, ttl, seq);
        };
        let op = Op::Renew {
            resource: name(r),
            token,
            ttl: Ttl::from_duration(ttl).expect("the phase's ttls are valid"),
        };
        call(seq, op, || {
            let answer = match &lease {
                Some(lease) => store.renew(lease, ttl)?,
                None => store.renew_by_token(RESOURCES[r], token, ttl)?,
            };
            Ok::<_, S::Error>(self.learn_renewed(answer, r, token))
        })
    }

    fn learn_renewed(&mut self, answer: Renew, r: usize, token: FencingToken) -> Ret {
        match answer {
            Renew::Renewed(lease) => {
                if lease.token() != token || lease.resource().as_str() != RESOURCES[r] {
                    return Ret::Malformed(format!("renewed another lease: {lease:?}"));
                }
                let expires_at = lease.expires_at();
                if self.lease.as_ref().is_some_and(|own| own.token() == token) {
                    self.lease = Some(lease);
                }
                Ret::Outcome(Ok(Outcome::Renew(RenewOutcome::Renewed { expires_at })))
            }
            Renew::Lost(lost) => match lost.current().map(|h| core_holder(h, r)).transpose() {
                Ok(current) => Ret::Outcome(Ok(Outcome::Renew(RenewOutcome::Lost {
                    reason: lost.reason(),
                    current,
                }))),
                Err(wrong) => wrong,
            },
        }
    }

    /// Releases the client's lease, or (by resource and token) the last token it saw.
    fn release<S: LockStore>(&mut self, store: &S, seq: &Seq) -> Record {
        let Some((r, token, lease)) = self.target() else {
            let op = Op::Holder { resource: name(0) };
            return call(seq, op, || store.holder(RESOURCES[0]).map(|h| holder(h, 0)));
        };
        if self.rng.chance(60) {
            // Keeping it now and then lets a later release retry, or come after a re-grant.
            self.lease = None;
        }
        let op = Op::Release {
            resource: name(r),
            token,
        };
        call(seq, op, || {
            let answer = match &lease {
                Some(lease) => store.release(lease)?,
                None => store.release_by_token(RESOURCES[r], token)?,
            };
            Ok::<_, S::Error>(released(answer, r))
        })
    }

    /// What a renew or release acts on: the client's own lease (through the lease, or now and
    /// then by its token), else the last token it saw.
    fn target(&mut self) -> Option<(usize, FencingToken, Option<Lease>)> {
        let by_token = self.rng.chance(30);
        if let Some(lease) = &self.lease {
            let r = usize::from(lease.resource().as_str() == RESOURCES[1]);
            let lease = (!by_token).then(|| lease.clone());
            let token = self.lease.as_ref().map(Lease::token)?;
            return Some((r, token, lease));
        }
        self.seen.map(|(r, token)| (r, token, None))
    }
}

/// Runs `f` between two sequence numbers and records it.
fn call<E: StoreError>(seq: &Seq, op: Op, f: impl FnOnce() -> Result<Ret, E>) -> Record {
    let invoked = seq.fetch_add(1, Ordering::SeqCst);
    let answer = f();
    let returned = seq.fetch_add(1, Ordering::SeqCst);
    Record {
        invoked,
        op,
        returned: answered(answer).map(|ret| (returned, ret)),
    }
}

/// The core's refusals are answers (every store must refuse what the core refuses); any other
/// error leaves the operation in flight.
fn answered<E: StoreError>(answer: Result<Ret, E>) -> Option<Ret> {
    match answer {
        Ok(ret) => Some(ret),
        Err(e) => e.decide_error().map(|refusal| Ret::Outcome(Err(refusal))),
    }
}

fn name(r: usize) -> ResourceName {
    ResourceName::new(RESOURCES[r]).expect("the resources are valid names")
}

/// The core's view of `holder`, which must be on resource `r`.
fn core_holder(holder: &Holder, r: usize) -> Result<CoreHolder, Ret> {
    if holder.resource().as_str() != RESOURCES[r] {
        return Err(Ret::Malformed(format!(
            "a holder of another resource: {holder:?}"
        )));
    }
    Ok(CoreHolder {
        owner: holder.owner().clone(),
        token: holder.token(),
        acquired_at: holder.acquired_at(),
        expires_at: holder.expires_at(),
    })
}

fn released(answer: Release, r: usize) -> Ret {
    let outcome = match answer {
        Release::Released => ReleaseOutcome::Released,
        Release::Expired => ReleaseOutcome::Expired,
        Release::NotHolder(current) => match current.map(|h| core_holder(&h, r)).transpose() {
            Ok(current) => ReleaseOutcome::NotHolder { current },
            Err(wrong) => return wrong,
        },
    };
    Ret::Outcome(Ok(Outcome::Release(outcome)))
}

fn evicted(answer: Evict, r: usize) -> Ret {
    let outcome = match answer {
        Evict::Evicted(holder) => match core_holder(&holder, r) {
            Ok(h) => EvictOutcome::Evicted(h),
            Err(wrong) => return wrong,
        },
        Evict::NotHeld => EvictOutcome::NotHeld,
    };
    Ret::Outcome(Ok(Outcome::Evict(outcome)))
}

fn holder(answer: Option<Holder>, r: usize) -> Ret {
    match answer.map(|h| core_holder(&h, r)).transpose() {
        Ok(holder) => Ret::Holder(holder),
        Err(wrong) => wrong,
    }
}

fn holders(answer: Vec<Holder>) -> Ret {
    let mut listed = Vec::with_capacity(answer.len());
    for h in answer {
        let Some(r) = RESOURCES.iter().position(|n| h.resource().as_str() == *n) else {
            return Ret::Malformed(format!("a holder of an unknown resource: {h:?}"));
        };
        match core_holder(&h, r) {
            Ok(core) => listed.push((h.resource().clone(), core)),
            Err(wrong) => return wrong,
        }
    }
    Ret::Holders(listed)
}
