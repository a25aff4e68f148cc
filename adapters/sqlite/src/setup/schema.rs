//! The schema: its objects, its version, and how it is checked, created and upgraded.
//!
//! The version lives in our own `leasehold_meta` table, not in `PRAGMA user_version`, which
//! belongs to the application when it hands us its connection
//! ([`SqliteStore::from_connection`](crate::SqliteStore::from_connection)). The meta table's shape
//! is the same in every version, so any build can read any database's version.

use std::collections::BTreeMap;

use leasehold_contract::StoreId;
use rusqlite::{Connection, Transaction, named_params};

use crate::error::Error;
use crate::row::status_code;

/// The schema version this build creates and understands.
pub(crate) const VERSION: i64 = 2;

/// The meta table. Its shape never changes between schema versions.
pub(crate) const CREATE_META: &str =
    "CREATE TABLE leasehold_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT";

/// One row per resource: its last lease, valid or not. `STRICT` makes SQLite refuse a value of
/// another type, e.g. the REAL that `token + 1` becomes past `i64::MAX`.
pub(crate) const CREATE_LOCKS: &str = concat!(
    "CREATE TABLE leasehold_locks (
  resource    TEXT    PRIMARY KEY,
  owner       TEXT    NOT NULL,
  token       INTEGER NOT NULL CHECK (token > 0),
  request_id  BLOB    NOT NULL CHECK (length(request_id) = 16),
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  status      INTEGER NOT NULL CHECK (status BETWEEN ",
    status_code!(Active),
    " AND ",
    status_code!(Evicted),
    ")
) STRICT, WITHOUT ROWID"
);

/// Any delete — a prune, or an administrator's by hand — raises the high-water mark in the same
/// statement, so no token can be issued twice for a resource whose row was deleted. (A trigger
/// that is not `TEMP` resolves the tables it names in its own database, `main`.)
pub(crate) const CREATE_HIGH_WATER_TRIGGER: &str =
    "CREATE TRIGGER leasehold_locks_keep_high_water \
AFTER DELETE ON leasehold_locks BEGIN
  UPDATE leasehold_meta SET value = MAX(value, OLD.token) WHERE key = 'pruned_high_water';
END";

/// Version 2: a new row's token must be above the high-water mark. The acquire statement's
/// `VALUES` computes the token of a *new* row even when the resource has one (SQLite evaluates it
/// before it finds the conflict), so it cannot fail there when the mark is at `i64::MAX`; it
/// caps the sum instead, and this guard refuses the one insert the cap would get wrong. An
/// `AFTER INSERT` trigger fires only when a row is really inserted, never on the `DO UPDATE`
/// path.
pub(crate) const CREATE_TOKEN_GUARD: &str =
    "CREATE TRIGGER leasehold_locks_token_above_high_water \
AFTER INSERT ON leasehold_locks \
WHEN NEW.token <= (SELECT value FROM leasehold_meta WHERE key = 'pruned_high_water') BEGIN
  SELECT RAISE(ABORT, 'leasehold: every fencing token has been issued');
END";

/// The objects of each version, by name, in the order [`SCHEMA_OBJECTS`] returns them.
const OBJECTS_V1: [(&str, &str); 3] = [
    ("leasehold_locks", CREATE_LOCKS),
    ("leasehold_locks_keep_high_water", CREATE_HIGH_WATER_TRIGGER),
    ("leasehold_meta", CREATE_META),
];
const OBJECTS_V2: [(&str, &str); 4] = [
    ("leasehold_locks", CREATE_LOCKS),
    ("leasehold_locks_keep_high_water", CREATE_HIGH_WATER_TRIGGER),
    ("leasehold_locks_token_above_high_water", CREATE_TOKEN_GUARD),
    ("leasehold_meta", CREATE_META),
];

/// The `CREATE` statements of the current version, in the order they run.
#[cfg_attr(not(feature = "test-util"), allow(dead_code))]
pub(crate) fn created() -> [&'static str; 4] {
    OBJECTS_V2.map(|(_, sql)| sql)
}

/// The leasehold objects in `main` and how they were created, as SQLite keeps them.
///
/// Every other trigger on a leasehold table is read too, so that it is refused: a trigger of
/// the application's could rewrite what the statements write (the high-water mark, a token).
const SCHEMA_OBJECTS: &str = "SELECT name, sql FROM main.sqlite_schema WHERE name IN \
('leasehold_meta', 'leasehold_locks', 'leasehold_locks_keep_high_water', \
'leasehold_locks_token_above_high_water') \
OR (type = 'trigger' AND tbl_name IN ('leasehold_meta', 'leasehold_locks')) ORDER BY name";

/// Every row of the meta table.
const META_ROWS: &str = "SELECT key, value FROM main.leasehold_meta ORDER BY key";

/// What an open found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No leasehold object at all: the schema must be created.
    Absent,
    /// Version 1, whole: it is upgraded in place.
    Version1,
    /// The current schema, whole, with the store's id.
    Current(StoreId),
}

/// What the database holds, read without writing anything.
#[derive(Debug)]
pub(crate) struct Inspection {
    objects: Vec<(String, String)>,
    /// The meta rows, when the meta table has the one shape every version keeps.
    meta: Option<BTreeMap<String, i64>>,
}

/// Reads the leasehold objects and the meta rows. Writes nothing.
pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<Inspection> {
    let mut statement = conn.prepare(SCHEMA_OBJECTS)?;
    let objects = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    let meta_matches = objects
        .iter()
        .any(|(name, stored)| name == "leasehold_meta" && same_sql(stored, CREATE_META));
    // Only a meta table of the one shape every version keeps can be read.
    let meta = if meta_matches {
        let mut statement = conn.prepare(META_ROWS)?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Some(rows.collect::<rusqlite::Result<_>>()?)
    } else {
        None
    };
    Ok(Inspection { objects, meta })
}

/// Decides whether an inspected database can be used, must be created or upgraded, or must be
/// refused.
pub(crate) fn check(inspection: &Inspection) -> Result<Found, Error> {
    if inspection.objects.is_empty() {
        return Ok(Found::Absent);
    }
    let Some(meta) = &inspection.meta else {
        return Err(foreign_object(inspection));
    };
    // A newer version may reshape any object but the meta table, so the version comes first.
    match meta.get("schema_version").copied() {
        Some(found) if found > VERSION => Err(Error::SchemaTooNew {
            found,
            supported: VERSION,
        }),
        Some(VERSION) => {
            same_objects(inspection, &OBJECTS_V2)?;
            meta_row(meta, "pruned_high_water")?;
            let id = meta_row(meta, "store_id")?;
            Ok(Found::Current(StoreId::from_u64(id.unsigned_abs())))
        }
        Some(1) => {
            same_objects(inspection, &OBJECTS_V1)?;
            meta_row(meta, "pruned_high_water")?;
            Ok(Found::Version1)
        }
        found => Err(Error::SchemaMismatch {
            object: "leasehold_meta: schema_version",
            found: found.map(|v| v.to_string()),
        }),
    }
}

/// Checks that exactly `expected` objects exist, each created by the expected SQL.
fn same_objects(inspection: &Inspection, expected: &[(&'static str, &str)]) -> Result<(), Error> {
    for (name, sql) in expected {
        match inspection.objects.iter().find(|(found, _)| found == name) {
            Some((_, stored)) if same_sql(stored, sql) => {}
            _ => return Err(mismatch_object(inspection, name)),
        }
    }
    let extra = inspection
        .objects
        .iter()
        .find(|(found, _)| !expected.iter().any(|(name, _)| name == found));
    match extra {
        // The known names of another version: this is not a schema this version wrote.
        Some((found, sql)) => Err(Error::SchemaMismatch {
            object: "leasehold schema",
            found: Some(format!("unexpected {found}: {sql}")),
        }),
        None => Ok(()),
    }
}

/// Without a readable meta table there is no version to go by: the first object that is not
/// what any version created is reported, or the meta table itself.
fn foreign_object(inspection: &Inspection) -> Error {
    let foreign = OBJECTS_V2.iter().find(|(name, sql)| {
        inspection
            .objects
            .iter()
            .any(|(found, stored)| found == name && !same_sql(stored, sql))
    });
    mismatch_object(
        inspection,
        foreign.map_or("leasehold_meta", |(name, _)| name),
    )
}

fn mismatch_object(inspection: &Inspection, name: &'static str) -> Error {
    let found = inspection.objects.iter().find(|(found, _)| found == name);
    Error::SchemaMismatch {
        object: name,
        found: found.map(|(_, sql)| sql.clone()),
    }
}

/// A meta row every version-2 database has, with a value no lower than 0 (1 for the id).
fn meta_row(meta: &BTreeMap<String, i64>, key: &'static str) -> Result<i64, Error> {
    let floor = if key == "store_id" { 1 } else { 0 };
    match meta.get(key) {
        Some(value) if *value >= floor => Ok(*value),
        found => Err(Error::SchemaMismatch {
            object: match key {
                "store_id" => "leasehold_meta: store_id",
                _ => "leasehold_meta: pruned_high_water",
            },
            found: found.map(ToString::to_string),
        }),
    }
}

/// The rows of a new database: its version, the high-water mark its tokens start above, and its
/// id.
const INSERT_META: &str = "INSERT INTO main.leasehold_meta (key, value) \
VALUES ('schema_version', :version), ('pruned_high_water', :high_water), ('store_id', :store_id)";

/// Creates the schema, inside the caller's `BEGIN IMMEDIATE` transaction.
pub(crate) fn create(tx: &Transaction<'_>, high_water: i64, store_id: i64) -> rusqlite::Result<()> {
    for sql in created() {
        tx.execute(sql, [])?;
    }
    let params = named_params! {
        ":version": VERSION, ":high_water": high_water, ":store_id": store_id,
    };
    tx.execute(INSERT_META, params)?;
    Ok(())
}

/// What version 2 adds to a version-1 database: the token guard, and an id.
const UPGRADE_META: &str = "INSERT INTO main.leasehold_meta (key, value) \
VALUES ('store_id', :store_id) \
ON CONFLICT (key) DO NOTHING";
const SET_VERSION: &str =
    "UPDATE main.leasehold_meta SET value = :version WHERE key = 'schema_version'";

/// Upgrades a version-1 schema to version 2, inside the caller's `BEGIN IMMEDIATE` transaction.
/// Tokens continue from where they are.
pub(crate) fn upgrade_from_1(tx: &Transaction<'_>, store_id: i64) -> rusqlite::Result<()> {
    tx.execute(CREATE_TOKEN_GUARD, [])?;
    tx.execute(UPGRADE_META, named_params! { ":store_id": store_id })?;
    tx.execute(SET_VERSION, named_params! { ":version": VERSION })?;
    Ok(())
}

/// Compares SQL text up to runs of whitespace, which SQLite may normalise when it stores a
/// `CREATE` statement.
fn same_sql(stored: &str, expected: &str) -> bool {
    stored.split_whitespace().eq(expected.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(objects: &[(&str, &str)], meta: &[(&str, i64)]) -> Inspection {
        Inspection {
            objects: objects
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                .collect(),
            meta: Some(meta.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()),
        }
    }

    const V2_META: [(&str, i64); 3] = [
        ("pruned_high_water", 0),
        ("schema_version", 2),
        ("store_id", 9),
    ];

    #[test]
    fn an_empty_database_needs_the_schema() {
        assert_eq!(check(&inspection(&[], &[])).ok(), Some(Found::Absent));
    }

    #[test]
    fn the_current_schema_is_accepted_version_1_upgraded_and_a_newer_one_refused() {
        assert_eq!(
            check(&inspection(&OBJECTS_V2, &V2_META)).ok(),
            Some(Found::Current(StoreId::from_u64(9)))
        );
        let v1_meta = [("pruned_high_water", 0), ("schema_version", 1)];
        assert_eq!(
            check(&inspection(&OBJECTS_V1, &v1_meta)).ok(),
            Some(Found::Version1)
        );
        let newer = [("schema_version", 3)];
        assert!(matches!(
            check(&inspection(&OBJECTS_V2, &newer)),
            Err(Error::SchemaTooNew {
                found: 3,
                supported: 2
            })
        ));
    }

    #[test]
    fn a_missing_object_or_meta_row_is_a_mismatch() {
        let partial = [OBJECTS_V2[0], OBJECTS_V2[1], OBJECTS_V2[3]];
        assert!(matches!(
            check(&inspection(&partial, &V2_META)),
            Err(Error::SchemaMismatch {
                object: "leasehold_locks_token_above_high_water",
                found: None
            })
        ));
        for missing in 0..3 {
            let mut meta = V2_META.to_vec();
            let (key, _) = meta.remove(missing);
            let outcome = check(&inspection(&OBJECTS_V2, &meta));
            assert!(
                matches!(outcome, Err(Error::SchemaMismatch { .. })),
                "without {key}: {outcome:?}"
            );
        }
    }

    #[test]
    fn version_zero_a_negative_mark_and_a_zero_id_are_mismatches() {
        for meta in [
            [
                ("pruned_high_water", 0),
                ("schema_version", 0),
                ("store_id", 9),
            ],
            [
                ("pruned_high_water", -1),
                ("schema_version", 2),
                ("store_id", 9),
            ],
            [
                ("pruned_high_water", 0),
                ("schema_version", 2),
                ("store_id", 0),
            ],
        ] {
            let outcome = check(&inspection(&OBJECTS_V2, &meta));
            assert!(
                matches!(outcome, Err(Error::SchemaMismatch { .. })),
                "{meta:?}: {outcome:?}"
            );
        }
    }

    #[test]
    fn a_version_1_database_with_version_2_objects_is_a_mismatch() {
        let v1_meta = [("pruned_high_water", 0), ("schema_version", 1)];
        assert!(matches!(
            check(&inspection(&OBJECTS_V2, &v1_meta)),
            Err(Error::SchemaMismatch { .. })
        ));
    }

    #[test]
    fn the_status_check_is_written_with_the_stored_codes() {
        assert!(CREATE_LOCKS.contains("CHECK (status BETWEEN 0 AND 3)"));
    }
}
