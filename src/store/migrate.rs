//! Embedded, numbered, forward-only migrations (`migrations/NNNN_name.sql`). Each is
//! applied in its own transaction together with the new `PRAGMA user_version`; a
//! database from a newer binary is refused instead of being touched.

use rusqlite::Connection;
use rust_embed::RustEmbed;

use super::StoreResult;
use crate::store::StoreError;

#[derive(RustEmbed)]
#[folder = "migrations/"]
struct MigrationFiles;

pub struct Migration {
    pub version: i64,
    pub name: String,
    pub sql: String,
}

/// Every embedded migration, ordered by version.
pub fn all() -> Vec<Migration> {
    let mut out: Vec<Migration> = MigrationFiles::iter()
        .filter_map(|name| {
            let version = name.split('_').next()?.parse::<i64>().ok()?;
            let file = MigrationFiles::get(&name)?;
            let sql = String::from_utf8_lossy(&file.data).into_owned();
            Some(Migration {
                version,
                name: name.to_string(),
                sql,
            })
        })
        .collect();
    out.sort_by_key(|m| m.version);
    out
}

/// The schema version this binary brings.
pub fn latest_version() -> i64 {
    all().last().map(|m| m.version).unwrap_or(0)
}

pub fn current_version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies pending migrations; returns the versions applied.
pub fn apply(conn: &mut Connection) -> StoreResult<Vec<i64>> {
    let current = current_version(conn)?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    let mut applied = Vec::new();
    for m in all().into_iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(&m.sql)
            .map_err(|source| StoreError::Migration {
                name: m.name.clone(),
                source,
            })?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        tracing::info!(version = m.version, name = %m.name, "applied migration");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_unique_and_contiguous() {
        let versions: Vec<i64> = all().iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn apply_is_idempotent_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = apply(&mut conn).unwrap();
        assert_eq!(first.len() as i64, latest_version());
        assert!(apply(&mut conn).unwrap().is_empty());
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        assert!(matches!(
            apply(&mut conn),
            Err(StoreError::NewerSchema { .. })
        ));
    }
}
