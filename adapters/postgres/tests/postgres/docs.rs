//! `docs/postgres.md` shows the statements the code runs: each `<!-- statement: X -->` block must
//! be `Statement::X`'s text up to whitespace, once `NOW($n)` is written out. Edit one and this
//! fails until the other follows.

use leasehold_postgres::Statement;

const DOC: &str = include_str!("../../../../docs/postgres.md");

/// The SQL block after `marker`.
fn block_after(marker: &str) -> &'static str {
    let start = DOC
        .find(marker)
        .unwrap_or_else(|| panic!("docs/postgres.md has no {marker}"));
    let rest = &DOC[start..];
    let open = rest.find("```sql\n").expect("a sql block after the marker") + "```sql\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    &rest[open..open + close]
}

/// The documented text with every `NOW($n)` written out as the clock expression.
fn expanded(documented: &str) -> String {
    let mut text = documented.to_owned();
    for n in 1..=5 {
        let clock = format!(
            "COALESCE(${n}::bigint, pg_catalog.floor(EXTRACT(epoch FROM \
             pg_catalog.clock_timestamp()) * 1000)::bigint)"
        );
        text = text.replace(&format!("NOW(${n})"), &clock);
    }
    text
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
        ("FenceLock", Statement::FenceLock),
        ("FenceCheck", Statement::FenceCheck),
    ];
    for (name, statement) in statements {
        let documented = expanded(block_after(&format!("<!-- statement: {name} -->")));
        let code = statement.sql().expect("one SQL statement");
        assert_eq!(words(&documented), words(code), "docs/postgres.md, {name}");
    }
}
