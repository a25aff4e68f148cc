//! Settings of a connection (and its database) under which the store could not keep its
//! promises, read without writing anything.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, MAIN_DB};

use crate::error::Error;

/// The built-in functions the schema and the statements call. An application can register a
/// function of the same name on its connection, and SQLite then calls that one instead.
const BUILT_INS: [&str; 3] = ["max", "min", "length"];

/// Application functions (not built in) that replace a built-in the store relies on.
const REPLACED_FUNCTIONS: &str = "SELECT DISTINCT name FROM pragma_function_list \
WHERE builtin = 0 AND name IN ('max', 'min', 'length') ORDER BY name";

/// `TEMP` objects that would shadow a leasehold table (a `TEMP` table is found before `main`'s by
/// an unqualified name) or act on one (a `TEMP` trigger on a `main` table).
const TEMP_OBJECTS: &str = "SELECT type || ' ' || name FROM temp.sqlite_schema \
WHERE name LIKE 'leasehold%' OR tbl_name LIKE 'leasehold%' ORDER BY name";

/// Checks `conn` before the store uses it. Reads only. The outer error is SQLite's (the store
/// classifies it, and waits out a busy one); the inner one is the refusal.
pub(crate) fn check(conn: &Connection) -> rusqlite::Result<Result<(), Error>> {
    if !conn.is_autocommit() {
        return Ok(Err(Error::InTransaction));
    }
    if conn.is_readonly(MAIN_DB)? || pragma_is_on(conn, "query_only")? {
        return Ok(Err(Error::ReadOnly));
    }
    if !conn.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER)? {
        // The trigger that keeps the high-water mark would not fire: pruning would let tokens
        // restart below the last one issued.
        return Ok(unsafe_setting(
            "triggers disabled",
            "SQLITE_DBCONFIG_ENABLE_TRIGGER is off",
        ));
    }
    if pragma_is_on(conn, "ignore_check_constraints")? {
        return Ok(unsafe_setting("PRAGMA ignore_check_constraints", "on"));
    }
    let replaced = strings(conn, REPLACED_FUNCTIONS)?;
    if !replaced.is_empty() {
        debug_assert!(
            replaced
                .iter()
                .all(|name| BUILT_INS.contains(&name.as_str()))
        );
        return Ok(unsafe_setting(
            "built-in functions replaced",
            &replaced.join(", "),
        ));
    }
    let temp = strings(conn, TEMP_OBJECTS)?;
    if !temp.is_empty() {
        return Ok(unsafe_setting(
            "TEMP objects named like leasehold's",
            &temp.join(", "),
        ));
    }
    Ok(Ok(()))
}

/// Refuses a database file with more than one name (a hard link). SQLite names the WAL and the
/// shared-memory file after the path it opened, so two names of one file get two WALs: two
/// views of the locks, and two holders of one lease. (A file bind-mounted on its own into a
/// container is the same hazard and cannot be seen from here: mount its directory.)
pub(crate) fn check_links(path: &std::path::Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(metadata) = std::fs::metadata(path) {
            let links = metadata.nlink();
            if links > 1 {
                return unsafe_setting(
                    "a database file with more than one name (hard links)",
                    &format!("{} has {links} links", path.display()),
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses a journal mode without a rollback journal: a statement that fails half-way (a full
/// disk, the token guard) could not be rolled back.
pub(crate) fn check_journal_mode(mode: &str) -> Result<(), Error> {
    if mode.eq_ignore_ascii_case("off") {
        return unsafe_setting("PRAGMA journal_mode", mode);
    }
    Ok(())
}

/// The journal mode of the `main` database.
pub(crate) fn journal_mode(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("PRAGMA main.journal_mode", [], |row| row.get(0))
}

/// Switches `main` to WAL and sets `synchronous`; returns the journal mode in force afterwards
/// (SQLite answers with the mode it could set, which is not always the one asked for).
pub(crate) fn set_durability(conn: &Connection, synchronous: &str) -> rusqlite::Result<String> {
    let mode: String = conn.query_row("PRAGMA main.journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(Some("main"), "synchronous", synchronous)?;
    Ok(mode)
}

fn pragma_is_on(conn: &Connection, pragma: &str) -> rusqlite::Result<bool> {
    conn.pragma_query_value(None, pragma, |row| row.get::<_, i64>(0))
        .map(|value| value != 0)
}

fn strings(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement.query_map([], |row| row.get(0))?;
    rows.collect()
}

fn unsafe_setting(setting: &'static str, found: &str) -> Result<(), Error> {
    Err(Error::UnsafeSetting {
        setting,
        found: found.to_owned(),
    })
}
