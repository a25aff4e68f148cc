//! Tests of the harness itself, against real processes: clusters, standbys, PgBouncer, the fault
//! proxy and the per-process test databases. One binary, one link.

mod harness {
    mod cluster;
    mod pgbouncer;
    mod proxy;
    mod proxy_postgres;
    mod standby;
    mod support;
    mod testdb;
}
