use std::time::Duration;
use leasehold_sqlite::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "open" => { let r = SqliteStore::open(&args[2]); println!("{:?}", r.map(|_| ())); }
        "basic" => {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("a.db");
            let s = SqliteStore::open(&p).unwrap();
            let a = s.try_acquire("r", "o", Duration::from_secs(5)).unwrap();
            println!("{a:?}");
            let b = s.try_acquire("r", "p", Duration::from_secs(5)).unwrap();
            println!("{b:?}");
            let s2 = SqliteStore::open(&p).unwrap();
            println!("{:?}", s2.records());
            let c = rusqlite::Connection::open(&p).unwrap();
            let sqls: Vec<String> = c.prepare("select sql from sqlite_schema").unwrap().query_map([], |r| r.get(0)).unwrap().map(|x| x.unwrap()).collect();
            for q in sqls { println!("{q}\n--"); }
        }
        _ => {}
    }
}
