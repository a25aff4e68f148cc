//! `docs/sqlite.md` shows the statements and the schema the code runs: each `<!-- statement: X -->`
//! block must be `Statement::X`'s text, and the `<!-- schema -->` block the schema's `CREATE`
//! statements, up to whitespace. Edit one and this fails until the other follows.

use leasehold_sqlite::Statement;

const DOC: &str = include_str!("../../../../docs/sqlite.md");

/// The SQL block after `marker`.
fn block_after(marker: &str) -> &'static str {
    let start = DOC
        .find(marker)
        .unwrap_or_else(|| panic!("docs/sqlite.md has no {marker}"));
    let rest = &DOC[start..];
    let open = rest.find("```sql\n").expect("a sql block after the marker") + "```sql\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    &rest[open..open + close]
}

fn words(sql: &str) -> Vec<&str> {
    sql.trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect()
}

#[test]
fn every_statement_in_the_docs_is_the_one_the_store_runs() {
    let statements = [
        ("Acquire", Statement::Acquire),
        ("Renew", Statement::Renew),
        ("Release", Statement::Release),
        ("Evict", Statement::Evict),
        ("Prune", Statement::Prune),
        ("ReadLock", Statement::ReadLock),
        ("ListLocks", Statement::ListLocks),
    ];
    for (name, statement) in statements {
        let documented = block_after(&format!("<!-- statement: {name} -->"));
        let code = statement.sql().expect("one SQL statement");
        assert_eq!(words(documented), words(code), "docs/sqlite.md, {name}");
    }
}

#[test]
fn the_schema_in_the_docs_is_the_one_the_store_creates() {
    let mut documented: Vec<Vec<&str>> = block_after("<!-- schema -->")
        .split("\n\n")
        .map(words)
        .collect();
    let mut code: Vec<Vec<&str>> = leasehold_sqlite::schema_sql()
        .into_iter()
        .map(words)
        .collect();
    documented.sort();
    code.sort();
    assert_eq!(documented, code);
}
