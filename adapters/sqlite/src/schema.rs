//! The schema's version and shape: checked on every open, created when absent.
//!
//! The version lives in our own `leasehold_meta` table, not in `PRAGMA user_version`, which
//! belongs to the application when it hands us its connection
//! ([`SqliteStore::from_connection`](crate::SqliteStore::from_connection)).

use rusqlite::Connection;

use crate::error::Error;
use crate::sql;

/// The schema version this build creates and understands.
pub(crate) const VERSION: i64 = 1;

/// The names of the leasehold objects and the SQL that creates each, ordered by name (the order
/// [`sql::schema_objects`] returns them in).
const OBJECTS: [(&str, &str); 3] = [
    ("leasehold_locks", sql::CREATE_LOCKS),
    (
        "leasehold_locks_keep_high_water",
        sql::CREATE_HIGH_WATER_TRIGGER,
    ),
    ("leasehold_meta", sql::CREATE_META),
];

/// What an open found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No leasehold object at all: the schema must be created.
    Absent,
    /// The current schema, in the expected shape.
    Current,
}

/// What the database holds, read without writing anything.
pub(crate) struct Inspection {
    objects: Vec<(String, String)>,
    /// The stored version, or the error reading it gave (a meta table of another shape).
    version: Option<i64>,
}

/// Reads the leasehold objects and the stored version. Writes nothing.
pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<Inspection> {
    let objects = sql::schema_objects(conn)?;
    let meta_matches = objects
        .iter()
        .any(|(name, stored)| name == "leasehold_meta" && same_sql(stored, sql::CREATE_META));
    // Only a meta table of the one shape every version keeps can be queried for its version.
    let version = if meta_matches {
        sql::schema_version(conn)?
    } else {
        None
    };
    Ok(Inspection { objects, version })
}

/// Decides whether an inspected database can be used, must be created, or must be refused.
pub(crate) fn check(inspection: &Inspection) -> Result<Found, Error> {
    if inspection.objects.is_empty() {
        return Ok(Found::Absent);
    }
    // A newer version may reshape any object but the meta table, so the version comes first.
    if let Some(found) = inspection.version.filter(|v| *v > VERSION) {
        return Err(Error::SchemaTooNew {
            found,
            supported: VERSION,
        });
    }
    for (name, expected) in OBJECTS {
        let stored = inspection.objects.iter().find(|(found, _)| found == name);
        match stored {
            Some((_, sql)) if same_sql(sql, expected) => {}
            other => {
                return Err(Error::SchemaMismatch {
                    object: name,
                    found: other.map(|(_, sql)| sql.clone()),
                });
            }
        }
    }
    match inspection.version {
        Some(VERSION) => Ok(Found::Current),
        // The right tables with no (or an older, unknown) version row.
        _ => Err(Error::SchemaMismatch {
            object: "leasehold_meta",
            found: Some(format!("schema_version = {:?}", inspection.version)),
        }),
    }
}

/// Creates the schema unless another opener got there first; both run under `BEGIN IMMEDIATE`,
/// so exactly one creates it and the others see it whole.
pub(crate) fn create(conn: &mut Connection) -> rusqlite::Result<Inspection> {
    let tx = sql::begin_immediate(conn)?;
    let inspection = inspect(&tx)?;
    if inspection.objects.is_empty() {
        sql::create_schema(&tx, VERSION)?;
    }
    let inspection = inspect(&tx)?;
    tx.commit()?;
    Ok(inspection)
}

/// Compares SQL text up to runs of whitespace, which SQLite may normalise when it stores a
/// `CREATE` statement.
fn same_sql(stored: &str, expected: &str) -> bool {
    stored.split_whitespace().eq(expected.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(objects: &[(&str, &str)], version: Option<i64>) -> Inspection {
        Inspection {
            objects: objects
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
                .collect(),
            version,
        }
    }

    #[test]
    fn an_empty_database_needs_the_schema() {
        assert_eq!(check(&inspection(&[], None)).ok(), Some(Found::Absent));
    }

    #[test]
    fn the_current_schema_is_accepted_and_a_newer_one_refused() {
        let all: Vec<_> = OBJECTS.to_vec();
        assert_eq!(check(&inspection(&all, Some(1))).ok(), Some(Found::Current));
        assert!(matches!(
            check(&inspection(&all, Some(2))),
            Err(Error::SchemaTooNew {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_missing_object_is_a_mismatch() {
        let partial = [OBJECTS[0], OBJECTS[2]];
        assert!(matches!(
            check(&inspection(&partial, Some(1))),
            Err(Error::SchemaMismatch {
                object: "leasehold_locks_keep_high_water",
                found: None
            })
        ));
    }
}
