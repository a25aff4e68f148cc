//! `open`: every documented spelling of an SQLite location opens the same file; a bad URL is a
//! typed error and touches nothing.

use std::time::Duration;

use leasehold::{Acquire, ErrorKind, StoreError};

use crate::support::Scratch;

#[test]
fn every_spelling_of_an_sqlite_location_opens_the_same_file() {
    let scratch = Scratch::new();
    let absolute = scratch.db();
    let path = absolute.to_str().expect("utf-8");
    let first = leasehold::open(path).expect("a bare path");
    let Acquire::Granted(lease) = first
        .try_acquire("r", "a", Duration::from_secs(30))
        .expect("acquire")
    else {
        panic!("a new file is free")
    };
    // `sqlite://` + an absolute path is `sqlite:///abs/…`.
    for url in [format!("sqlite://{path}"), format!("sqlite:{path}")] {
        let store = leasehold::open(&url).expect(&url);
        assert_eq!(store.store_id(), first.store_id(), "{url}");
        assert_eq!(
            store.holder("r").expect("read").map(|h| h.token()),
            Some(lease.token())
        );
    }
}

#[test]
fn bad_urls_are_typed_errors_and_touch_nothing() {
    let scratch = Scratch::new();
    let cases = [
        (
            format!("sqlite://{}?mode=ro", scratch.db().display()),
            ErrorKind::InvalidInput,
        ),
        (
            "mysql://localhost/locks".to_owned(),
            ErrorKind::InvalidInput,
        ),
        (String::new(), ErrorKind::InvalidInput),
    ];
    for (url, kind) in cases {
        let error = leasehold::open(&url).expect_err(&url);
        assert_eq!(error.kind(), kind, "{url}: {error}");
    }
    let entries = std::fs::read_dir(scratch.dir.path()).expect("list").count();
    assert_eq!(entries, 0, "a refused URL created a file");
}
