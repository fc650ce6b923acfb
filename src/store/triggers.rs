//! Triggers in SQLite: their definitions, the bounded run log and the key/value store
//! scripts use through `kv_get` / `kv_set`.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use super::{now_rfc3339, StoreResult};
use crate::store::StoreError;

/// Runs kept per trigger; older ones are trimmed as new ones arrive.
pub const RUNS_KEPT: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Actions {
    pub message: bool,
    pub join: bool,
    pub leave: bool,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            message: true,
            join: false,
            leave: false,
        }
    }
}

/// A trigger as stored and as the API shows it (Xano field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerRecord {
    pub id: i64,
    pub guid: String,
    pub name: String,
    pub description: String,
    pub channel: String,
    pub active: bool,
    pub tag: Vec<String>,
    pub actions: Actions,
    pub script: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The editable part of a trigger.
#[derive(Debug, Clone)]
pub struct TriggerFields {
    pub name: String,
    pub description: String,
    pub channel: String,
    pub active: bool,
    pub tag: Vec<String>,
    pub actions: Actions,
    pub script: String,
}

impl TriggerRecord {
    pub fn fields(&self) -> TriggerFields {
        TriggerFields {
            name: self.name.clone(),
            description: self.description.clone(),
            channel: self.channel.clone(),
            active: self.active,
            tag: self.tag.clone(),
            actions: self.actions,
            script: self.script.clone(),
        }
    }
}

const COLUMNS: &str = "id, guid, name, description, channel, active, tag, on_message, on_join, \
                       on_leave, script, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<TriggerRecord> {
    let tag: String = r.get(6)?;
    Ok(TriggerRecord {
        id: r.get(0)?,
        guid: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        channel: r.get(4)?,
        active: r.get(5)?,
        // The column is only written by this module, always as a JSON array.
        tag: serde_json::from_str(&tag).unwrap_or_default(),
        actions: Actions {
            message: r.get(7)?,
            join: r.get(8)?,
            leave: r.get(9)?,
        },
        script: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn tag_json(tag: &[String]) -> String {
    serde_json::to_string(tag).unwrap_or_else(|_| "[]".into())
}

pub fn insert(conn: &Connection, guid: &str, f: &TriggerFields) -> StoreResult<TriggerRecord> {
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO triggers(guid, name, description, channel, active, tag, on_message, on_join, \
         on_leave, script, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11)",
        params![
            guid,
            f.name,
            f.description,
            f.channel,
            f.active,
            tag_json(&f.tag),
            f.actions.message,
            f.actions.join,
            f.actions.leave,
            f.script,
            now
        ],
    )
    .map_err(|e| StoreError::from_sqlite_unique(e, "A trigger with this guid already exists."))?;
    get(conn, conn.last_insert_rowid())
}

pub fn update(conn: &Connection, id: i64, f: &TriggerFields) -> StoreResult<TriggerRecord> {
    let changed = conn.execute(
        "UPDATE triggers SET name=?2, description=?3, channel=?4, active=?5, tag=?6, on_message=?7, \
         on_join=?8, on_leave=?9, script=?10, updated_at=?11 WHERE id=?1",
        params![
            id,
            f.name,
            f.description,
            f.channel,
            f.active,
            tag_json(&f.tag),
            f.actions.message,
            f.actions.join,
            f.actions.leave,
            f.script,
            now_rfc3339()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, id)
}

pub fn get(conn: &Connection, id: i64) -> StoreResult<TriggerRecord> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM triggers WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

/// Every trigger in id order (the table stays small: it holds scripts, not data).
pub fn list(conn: &Connection) -> StoreResult<Vec<TriggerRecord>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM triggers ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, id: i64) -> StoreResult<()> {
    // Explicit, so the log goes even where foreign keys were switched off.
    conn.execute("DELETE FROM trigger_runs WHERE trigger_id = ?1", [id])?;
    match conn.execute("DELETE FROM triggers WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// One execution of one trigger, as the run log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub trigger_id: i64,
    pub time: String,
    pub action: String,
    pub channel: String,
    pub duration_ms: f64,
    pub outcome: String,
    pub error: Option<String>,
    pub logs: Vec<String>,
}

/// A run waiting to be written.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub trigger_id: i64,
    pub time: String,
    pub action: &'static str,
    pub channel: String,
    pub duration_us: i64,
    pub outcome: &'static str,
    pub error: Option<String>,
    pub logs: Vec<String>,
}

/// Appends runs and trims each touched trigger's log to [`RUNS_KEPT`]. Runs of triggers
/// deleted meanwhile are skipped rather than failing the whole batch.
pub fn insert_runs(conn: &Connection, runs: &[NewRun]) -> StoreResult<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO trigger_runs(trigger_id, at, action, channel, duration_us, outcome, error, logs) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM triggers WHERE id = ?1)",
    )?;
    let mut touched: Vec<i64> = Vec::new();
    for run in runs {
        insert.execute(params![
            run.trigger_id,
            run.time,
            run.action,
            run.channel,
            run.duration_us,
            run.outcome,
            run.error,
            serde_json::to_string(&run.logs).unwrap_or_else(|_| "[]".into()),
        ])?;
        if !touched.contains(&run.trigger_id) {
            touched.push(run.trigger_id);
        }
    }
    let mut trim = conn.prepare_cached(
        "DELETE FROM trigger_runs WHERE trigger_id = ?1 AND id < (SELECT id FROM trigger_runs \
         WHERE trigger_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?;
    for id in touched {
        trim.execute(params![id, RUNS_KEPT - 1])?;
    }
    Ok(())
}

/// The newest runs of a trigger first.
pub fn list_runs(conn: &Connection, trigger_id: i64, limit: i64) -> StoreResult<Vec<RunRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, trigger_id, at, action, channel, duration_us, outcome, error, logs \
         FROM trigger_runs WHERE trigger_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![trigger_id, limit], |r| {
        let logs: String = r.get(8)?;
        let us: i64 = r.get(5)?;
        Ok(RunRecord {
            id: r.get(0)?,
            trigger_id: r.get(1)?,
            time: r.get(2)?,
            action: r.get(3)?,
            channel: r.get(4)?,
            duration_ms: us as f64 / 1000.0,
            outcome: r.get(6)?,
            error: r.get(7)?,
            logs: serde_json::from_str(&logs).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn kv_get(conn: &Connection, key: &str) -> StoreResult<Option<Value>> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM trigger_kv WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Applies a run's writes at once; `None` deletes the key.
pub fn kv_apply(conn: &Connection, writes: &[(String, Option<Value>)]) -> StoreResult<()> {
    let now = now_rfc3339();
    let mut put = conn.prepare_cached(
        "INSERT INTO trigger_kv(key, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    let mut del = conn.prepare_cached("DELETE FROM trigger_kv WHERE key = ?1")?;
    for (key, value) in writes {
        match value {
            Some(v) => {
                put.execute(params![key, v.to_string(), now])?;
            }
            None => {
                del.execute([key])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncMode;
    use crate::store::Db;

    fn fields(name: &str) -> TriggerFields {
        TriggerFields {
            name: name.into(),
            description: String::new(),
            channel: "chat".into(),
            active: true,
            tag: vec!["a".into()],
            actions: Actions::default(),
            script: "payload".into(),
        }
    }

    #[test]
    fn crud_runs_and_kv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), SyncMode::Normal).unwrap();
        let rec = db
            .write_blocking(|c| insert(c, "g1", &fields("one")))
            .unwrap();
        assert_eq!(rec.tag, vec!["a".to_string()]);
        let mut f = rec.fields();
        f.name = "two".into();
        let id = rec.id;
        let upd = db.write_blocking(move |c| update(c, id, &f)).unwrap();
        assert_eq!(upd.name, "two");

        let runs: Vec<NewRun> = (0..RUNS_KEPT + 25)
            .map(|i| NewRun {
                trigger_id: id,
                time: now_rfc3339(),
                action: "message",
                channel: "chat".into(),
                duration_us: i,
                outcome: "ok",
                error: None,
                logs: vec![format!("{i}")],
            })
            .collect();
        db.write_blocking(move |c| insert_runs(c, &runs)).unwrap();
        let kept = db.read_blocking(|c| list_runs(c, id, 1000)).unwrap();
        assert_eq!(kept.len() as i64, RUNS_KEPT);
        assert_eq!(kept[0].logs, vec![format!("{}", RUNS_KEPT + 24)]);

        db.write_blocking(|c| {
            kv_apply(
                c,
                &[
                    ("k".into(), Some(serde_json::json!({"n": 1}))),
                    ("gone".into(), None),
                ],
            )
        })
        .unwrap();
        let v = db.read_blocking(|c| kv_get(c, "k")).unwrap();
        assert_eq!(v, Some(serde_json::json!({"n": 1})));

        db.write_blocking(move |c| delete(c, id)).unwrap();
        assert!(matches!(
            db.read_blocking(move |c| get(c, id)),
            Err(StoreError::NotFound)
        ));
    }
}
