//! Tests of `leasehold-postgres` against a real PostgreSQL server, each in a database of its own
//! (see `support`). One test binary with one module per concern keeps link time down.

mod basics;
mod docs;
mod failover;
mod faults;
mod fence;
mod kit;
mod listen;
mod partition;
mod prepared;
mod races;
mod reference;
mod refusals;
mod replay;
mod row_locks;
mod servers;
mod statements;
mod support;
mod walks;
