//! The schema: its objects, its version, and how an existing one is recognised or refused.
//!
//! Everything lives in one PostgreSQL schema of its own (default `leasehold`), under names that
//! start with `leasehold_`, and every statement names it explicitly: objects of the same names
//! elsewhere in a session's `search_path` (a `TEMP` table, `public`) are never used. The version
//! is kept in the meta table, whose shape never changes between versions, so any build can read
//! any schema's version.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::seam::with_schema;
use crate::sql::{max, status_code};

/// The schema version this build creates and understands.
pub(crate) const VERSION: i64 = 1;

/// The schema itself, created only when it does not exist (`CREATE SCHEMA IF NOT EXISTS` would
/// still need the `CREATE` privilege on the database, which an administrator who created the
/// schema for the application need not grant).
pub(crate) const CREATE_SCHEMA: &str = "CREATE SCHEMA {schema}";

/// The meta table: `schema_version`, `pruned_high_water`, `store_id`. Its shape never changes.
const CREATE_META: &str = "CREATE TABLE {schema}.leasehold_meta (
  key   text   COLLATE \"C\" PRIMARY KEY,
  value bigint NOT NULL
)";

/// One row per resource: its last lease, valid or not. Times are integer milliseconds on the
/// store's clock; names compare and sort bytewise (`COLLATE "C"`), as Rust's `str` does.
const CREATE_LOCKS: &str = concat!(
    "CREATE TABLE {schema}.leasehold_locks (
  resource    text     COLLATE \"C\" PRIMARY KEY
                       CHECK (pg_catalog.octet_length(resource) BETWEEN 1 AND 255),
  owner       text     COLLATE \"C\" NOT NULL
                       CHECK (pg_catalog.octet_length(owner) BETWEEN 1 AND 255),
  token       bigint   NOT NULL CHECK (token > 0),
  request_id  bytea    NOT NULL CHECK (pg_catalog.octet_length(request_id) = 16),
  acquired_at bigint   NOT NULL CHECK (acquired_at >= 0),
  expires_at  bigint   NOT NULL CHECK (expires_at >= 0),
  status      smallint NOT NULL CHECK (status BETWEEN ",
    status_code!(Active),
    " AND ",
    status_code!(Evicted),
    ")
)"
);

/// Any delete — a prune, or an administrator's by hand — raises the high-water mark to the
/// largest deleted token in the same statement, so no token can be issued twice for a resource
/// whose row was deleted. A statement-level trigger: one update of the mark per delete.
const KEEP_HIGH_WATER_BODY: &str = "
BEGIN
  UPDATE {schema}.leasehold_meta SET value = GREATEST(value, (SELECT max(token) FROM gone))
  WHERE key = 'pruned_high_water';
  RETURN NULL;
END
";

/// A new row's token must be above the high-water mark. The acquire statement computes the token
/// of a *new* row from a read of the mark taken when the statement began; a prune that commits
/// while the acquire waits for it (both on the same resource) can raise the mark past that
/// token. The guard reads the mark again, locked (`FOR SHARE`: under `READ COMMITTED` the newest
/// committed value; under `REPEATABLE READ` and `SERIALIZABLE` a serialization failure if it
/// changed), and refuses the insert with a serialization failure, which the store retries with a
/// fresh read. At `i64::MAX` every token has been issued: SQLSTATE `LH001`. The trigger fires only
/// when a row is really inserted, never on the upsert's `DO UPDATE` path.
const TOKEN_GUARD_BODY: &str = concat!(
    "
DECLARE
  high_water bigint;
BEGIN
  SELECT m.value INTO high_water FROM {schema}.leasehold_meta m
  WHERE m.key = 'pruned_high_water' FOR SHARE;
  IF NEW.token <= high_water THEN
    IF high_water >= ",
    max!(),
    " THEN
      RAISE EXCEPTION USING ERRCODE = 'LH001',
        MESSAGE = 'leasehold: every fencing token has been issued';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
      MESSAGE = 'leasehold: the high-water mark rose during this acquire';
  END IF;
  RETURN NULL;
END
"
);

/// A trigger function of the schema. It runs with a `search_path` of `pg_catalog` only, so that
/// nothing in the caller's path can stand in for an operator or function it uses.
fn create_function(quoted: &str, name: &str, body: &str) -> String {
    let body = with_schema(body, quoted);
    format!(
        "CREATE FUNCTION {quoted}.{name}() RETURNS trigger LANGUAGE plpgsql \
SET search_path = pg_catalog, pg_temp AS $leasehold${body}$leasehold$"
    )
}

const CREATE_KEEP_HIGH_WATER: &str = "CREATE TRIGGER leasehold_keep_high_water \
AFTER DELETE ON {schema}.leasehold_locks REFERENCING OLD TABLE AS gone \
FOR EACH STATEMENT EXECUTE FUNCTION {schema}.leasehold_keep_high_water()";

const CREATE_TOKEN_GUARD: &str = "CREATE TRIGGER leasehold_token_guard \
AFTER INSERT ON {schema}.leasehold_locks FOR EACH ROW EXECUTE FUNCTION {schema}.leasehold_token_guard()";

/// The rows of a new schema: its version, the high-water mark its tokens start above, and its
/// id. `$1` version, `$2` mark, `$3` id.
pub(crate) const INSERT_META: &str = "INSERT INTO {schema}.leasehold_meta (key, value) \
VALUES ('schema_version', $1), ('pruned_high_water', $2), ('store_id', $3)";

/// The statements that create the schema's objects, in order, for the quoted schema name.
pub(crate) fn creation(quoted: &str) -> Vec<String> {
    vec![
        with_schema(CREATE_META, quoted),
        with_schema(CREATE_LOCKS, quoted),
        create_function(quoted, "leasehold_keep_high_water", KEEP_HIGH_WATER_BODY),
        with_schema(CREATE_KEEP_HIGH_WATER, quoted),
        create_function(quoted, "leasehold_token_guard", TOKEN_GUARD_BODY),
        with_schema(CREATE_TOKEN_GUARD, quoted),
    ]
}

/// The leasehold objects of the schema `$1`, each as one line of text (`FACTS` below lists what
/// this build creates): tables with their columns, constraints, triggers, trigger functions.
/// Objects of other names are not looked at, so the schema may be shared with the application.
pub(crate) const INSPECT: &str = "SELECT f FROM ( \
SELECT 'table ' || c.relname || ' (' || c.relkind::text \
|| CASE WHEN c.relrowsecurity THEN ', row security' ELSE '' END \
|| CASE WHEN c.relhasrules THEN ', rules' ELSE '' END || '): ' \
|| pg_catalog.string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) \
|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
|| CASE WHEN a.attcollation <> 0 THEN ' collate ' || co.collname ELSE '' END \
|| CASE WHEN a.atthasdef THEN ' default' ELSE '' END, ', ' ORDER BY a.attnum) AS f \
FROM pg_catalog.pg_class c \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
WHERE n.nspname = $1 AND c.relname IN ('leasehold_meta', 'leasehold_locks') \
GROUP BY c.oid, c.relname, c.relkind, c.relrowsecurity, c.relhasrules \
UNION ALL \
SELECT 'constraint ' || c.relname || ': ' || pg_catalog.pg_get_constraintdef(k.oid) \
FROM pg_catalog.pg_constraint k \
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE n.nspname = $1 AND c.relname IN ('leasehold_meta', 'leasehold_locks') \
UNION ALL \
SELECT 'trigger ' || c.relname || ': ' || t.tgname || ' type ' || t.tgtype \
|| ' enabled ' || t.tgenabled::text || ' old table ' || COALESCE(t.tgoldtable, '-') \
|| ' new table ' || COALESCE(t.tgnewtable, '-') || ' calls ' || pn.nspname || '.' || p.proname \
FROM pg_catalog.pg_trigger t \
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
WHERE n.nspname = $1 AND c.relname IN ('leasehold_meta', 'leasehold_locks') \
AND NOT t.tgisinternal \
UNION ALL \
SELECT 'function ' || p.proname || ' (' || l.lanname || ', ' \
|| COALESCE(pg_catalog.array_to_string(p.proconfig, '; '), '-') || ', ' \
|| CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END || '): ' || p.prosrc \
FROM pg_catalog.pg_proc p \
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
WHERE n.nspname = $1 AND p.proname IN ('leasehold_keep_high_water', 'leasehold_token_guard') \
) facts";

/// What [`INSPECT`] finds in a schema this build created: the constant lines. The functions'
/// lines (which contain the schema's name) are built by [`expected_facts`].
const FACTS: [&str; 11] = [
    "constraint leasehold_locks: CHECK (((octet_length(owner) >= 1) AND (octet_length(owner) <= 255)))",
    "constraint leasehold_locks: CHECK (((octet_length(resource) >= 1) AND (octet_length(resource) <= 255)))",
    "constraint leasehold_locks: CHECK (((status >= 0) AND (status <= 3)))",
    "constraint leasehold_locks: CHECK ((acquired_at >= 0))",
    "constraint leasehold_locks: CHECK ((expires_at >= 0))",
    "constraint leasehold_locks: CHECK ((octet_length(request_id) = 16))",
    "constraint leasehold_locks: CHECK ((token > 0))",
    "constraint leasehold_locks: PRIMARY KEY (resource)",
    "constraint leasehold_meta: PRIMARY KEY (key)",
    "table leasehold_locks (r): resource text not null collate C, owner text not null collate C, \
token bigint not null, request_id bytea not null, acquired_at bigint not null, \
expires_at bigint not null, status smallint not null",
    META_FACT,
];

/// The meta table's line: the one object every version has in this shape.
const META_FACT: &str =
    "table leasehold_meta (r): key text not null collate C, value bigint not null";

/// Every line [`INSPECT`] returns for a schema this build created, sorted.
fn expected_facts(schema: &str, quoted: &str) -> Vec<String> {
    let function = |name: &str, body: &str| {
        let body = with_schema(body, quoted);
        format!("function {name} (plpgsql, search_path=pg_catalog, pg_temp, invoker): {body}")
    };
    let trigger = |name: &str, kind: u8, old: &str| {
        format!(
            "trigger leasehold_locks: {name} type {kind} enabled O old table {old} new table - \
calls {schema}.{name}"
        )
    };
    let mut facts: Vec<String> = FACTS.iter().map(|fact| (*fact).to_owned()).collect();
    facts.extend([
        function("leasehold_keep_high_water", KEEP_HIGH_WATER_BODY),
        function("leasehold_token_guard", TOKEN_GUARD_BODY),
        // pg_trigger.tgtype bits: 8 = DELETE (statement level, AFTER); 1 | 4 = ROW, INSERT.
        trigger("leasehold_keep_high_water", 8, "gone"),
        trigger("leasehold_token_guard", 5, "-"),
    ]);
    facts.sort();
    facts
}

/// What a connect found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No leasehold object at all: the schema must be created.
    Absent,
    /// The current schema, whole, with the store's id.
    Current(u64),
}

/// What the schema holds, read without writing anything.
#[derive(Debug)]
pub(crate) struct Inspection {
    /// [`INSPECT`]'s lines, sorted.
    pub(crate) facts: Vec<String>,
    /// The meta rows, when the meta table has the one shape every version keeps.
    pub(crate) meta: Option<BTreeMap<String, i64>>,
}

impl Inspection {
    /// Whether the meta table exists in the shape every version keeps, so its rows can be read.
    pub(crate) fn meta_is_readable(facts: &[String]) -> bool {
        facts.iter().any(|fact| fact == META_FACT)
    }
}

/// Decides whether an inspected schema can be used, must be created, or must be refused.
pub(crate) fn check(inspection: &Inspection, schema: &str, quoted: &str) -> Result<Found, Error> {
    if inspection.facts.is_empty() {
        return Ok(Found::Absent);
    }
    let Some(meta) = &inspection.meta else {
        return Err(mismatch("leasehold_meta", None));
    };
    // A newer version may reshape any object but the meta table, so the version comes first.
    match meta.get("schema_version").copied() {
        Some(found) if found > VERSION => Err(Error::SchemaTooNew {
            found,
            supported: VERSION,
        }),
        Some(VERSION) => {
            same_facts(&inspection.facts, &expected_facts(schema, quoted))?;
            meta_row(meta, "pruned_high_water", 0)?;
            let id = meta_row(meta, "store_id", 1)?;
            Ok(Found::Current(id.unsigned_abs()))
        }
        found => Err(mismatch(
            "leasehold_meta: schema_version",
            found.map(|v| v.to_string()),
        )),
    }
}

/// Checks that the schema's lines are exactly the expected ones; reports the first difference.
fn same_facts(found: &[String], expected: &[String]) -> Result<(), Error> {
    if let Some(missing) = expected.iter().find(|fact| !found.contains(fact)) {
        let object = object_of(missing);
        let found = found.iter().find(|fact| object_of(fact) == object).cloned();
        return Err(mismatch(&object, found));
    }
    match found.iter().find(|fact| !expected.contains(fact)) {
        Some(extra) => Err(mismatch(
            "leasehold schema",
            Some(format!("unexpected {extra}")),
        )),
        None => Ok(()),
    }
}

/// The object a line is about: a table or function by its name, a trigger by its name and table,
/// a constraint by its whole definition.
fn object_of(fact: &str) -> String {
    let mut words = fact.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("trigger"), Some(table), Some(name)) => {
            format!("trigger {name} on {}", table.trim_end_matches(':'))
        }
        (Some(kind @ ("table" | "function")), Some(name), _) => format!("{kind} {name}"),
        _ => fact.to_owned(),
    }
}

/// A meta row every version-1 schema has, with a value no lower than `floor`.
fn meta_row(meta: &BTreeMap<String, i64>, key: &str, floor: i64) -> Result<i64, Error> {
    match meta.get(key) {
        Some(value) if *value >= floor => Ok(*value),
        found => Err(mismatch(
            &format!("leasehold_meta: {key}"),
            found.map(ToString::to_string),
        )),
    }
}

fn mismatch(object: &str, found: Option<String>) -> Error {
    Error::SchemaMismatch {
        object: object.to_owned(),
        found,
    }
}

/// The schema name quoted as an SQL identifier, or why it cannot be used.
pub(crate) fn quoted(name: &str) -> Result<String, Error> {
    let refuse = |reason| {
        Err(Error::InvalidSchemaName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > 63 {
        return refuse("it is longer than PostgreSQL's 63 bytes");
    }
    if name.chars().any(char::is_control) {
        return refuse("it has a control character");
    }
    if name.starts_with("pg_") {
        return refuse("names starting with pg_ are reserved for the system");
    }
    if name.contains("$leasehold$") {
        return refuse("it contains $leasehold$, which delimits the schema's function bodies");
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The key of the transaction-scoped advisory lock that serialises the schema's creation by
/// concurrent first users: FNV-1a of the schema's name. Another application using the same key
/// would only make a creation wait.
pub(crate) fn creation_lock_key(schema: &str) -> i64 {
    let hash = format!("leasehold schema {schema}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(facts: Vec<String>, meta: &[(&str, i64)]) -> Inspection {
        Inspection {
            meta: Some(meta.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()),
            facts,
        }
    }

    const META: [(&str, i64); 3] = [
        ("pruned_high_water", 0),
        ("schema_version", 1),
        ("store_id", 9),
    ];

    #[test]
    fn an_empty_schema_needs_creating_and_a_whole_one_is_used() {
        let empty = inspection(Vec::new(), &[]);
        assert_eq!(check(&empty, "s", "\"s\"").ok(), Some(Found::Absent));
        let whole = inspection(expected_facts("s", "\"s\""), &META);
        assert_eq!(check(&whole, "s", "\"s\"").ok(), Some(Found::Current(9)));
    }

    #[test]
    fn a_newer_version_is_refused_before_its_objects_are_compared() {
        let newer = inspection(vec![META_FACT.to_owned()], &[("schema_version", 2)]);
        assert!(matches!(
            check(&newer, "s", "\"s\""),
            Err(Error::SchemaTooNew {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_missing_or_extra_object_or_meta_row_is_a_mismatch() {
        let mut facts = expected_facts("s", "\"s\"");
        facts.retain(|f| !f.contains("token_guard type"));
        let outcome = check(&inspection(facts, &META), "s", "\"s\"");
        assert!(
            matches!(&outcome, Err(Error::SchemaMismatch { object, found: None })
                if object == "trigger leasehold_token_guard on leasehold_locks"),
            "{outcome:?}"
        );
        let mut facts = expected_facts("s", "\"s\"");
        facts.push("trigger leasehold_locks: audit type 17".to_owned());
        let outcome = check(&inspection(facts, &META), "s", "\"s\"");
        assert!(
            matches!(outcome, Err(Error::SchemaMismatch { .. })),
            "{outcome:?}"
        );
        for missing in 0..3 {
            let mut meta = META.to_vec();
            meta.remove(missing);
            let outcome = check(
                &inspection(expected_facts("s", "\"s\""), &meta),
                "s",
                "\"s\"",
            );
            assert!(
                matches!(outcome, Err(Error::SchemaMismatch { .. })),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn schema_names_are_quoted_or_refused() {
        assert_eq!(quoted("leasehold").ok().as_deref(), Some("\"leasehold\""));
        assert_eq!(
            quoted("My \"Locks\"").ok().as_deref(),
            Some("\"My \"\"Locks\"\"\"")
        );
        for bad in ["", "pg_locks", "a\nb", "x$leasehold$y", &"n".repeat(64)] {
            assert!(
                matches!(quoted(bad), Err(Error::InvalidSchemaName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_creation_lock_key_depends_on_the_schema() {
        assert_ne!(creation_lock_key("a"), creation_lock_key("b"));
        assert_eq!(creation_lock_key("a"), creation_lock_key("a"));
    }

    #[test]
    fn the_statements_name_the_schema_and_the_status_codes() {
        let statements = creation("\"s\"");
        assert!(statements.iter().all(|s| s.contains("\"s\".leasehold_")));
        assert!(statements[1].contains("CHECK (status BETWEEN 0 AND 3)"));
        assert!(!statements.iter().any(|s| s.contains("{schema}")));
    }
}
