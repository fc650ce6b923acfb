//! Reads behind the admin dashboard: the latest activity across channels and trigger
//! runs, and livechat counts when the livechat tables exist.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use super::StoreResult;

/// Longest payload preview in the activity feed.
const PREVIEW_CHARS: usize = 160;

/// One line of the dashboard's live feed.
#[derive(Debug, Serialize)]
pub struct Activity {
    /// `message`, `event` or `trigger_run`.
    pub kind: String,
    pub time: String,
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Message id, or trigger run id.
    pub id: i64,
    /// Message author (JSON object) or `{"trigger": id}` for a run.
    pub author: Value,
    /// Payload text (cut) for messages; outcome and error for runs.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_name: Option<String>,
}

fn preview(text: &str) -> String {
    if text.chars().count() <= PREVIEW_CHARS {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(PREVIEW_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// The newest `limit` messages and trigger runs, newest first.
pub fn recent_activity(conn: &Connection, limit: i64) -> StoreResult<Vec<Activity>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        // Livechat's own notification feeds (`livechat-queue`, `livechat-agent/…`, …) are
        // plumbing, not activity; a livechat room message reads as "sender: text".
        "SELECT channel, id, room, author, created_at,
                CASE WHEN channel LIKE 'livechat/%' AND json_valid(payload)
                     THEN coalesce(json_extract(payload, '$.sender'), 'message') || ': '
                          || coalesce(json_extract(payload, '$.msg'), '')
                     ELSE substr(payload, 1, 400) END,
                kind
         FROM messages WHERE channel NOT LIKE 'livechat-%'
         ORDER BY created_unix DESC, created_at DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |r| {
        let author: String = r.get(3)?;
        let payload: String = r.get(5)?;
        Ok(Activity {
            kind: r.get(6)?,
            time: r.get(4)?,
            channel: r.get(0)?,
            room: r.get(2)?,
            id: r.get(1)?,
            author: serde_json::from_str(&author).unwrap_or(Value::Null),
            summary: preview(&payload),
            trigger_name: None,
        })
    })?;
    for row in rows {
        out.push(row?);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.trigger_id, r.at, r.channel, r.outcome, r.error, r.duration_us, t.name
         FROM trigger_runs r JOIN triggers t ON t.id = r.trigger_id
         ORDER BY r.id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |r| {
        let trigger_id: i64 = r.get(1)?;
        let outcome: String = r.get(4)?;
        let error: Option<String> = r.get(5)?;
        let us: i64 = r.get(6)?;
        let summary = match error {
            Some(e) => format!("{outcome} in {:.2} ms: {}", us as f64 / 1000.0, preview(&e)),
            None => format!("{outcome} in {:.2} ms", us as f64 / 1000.0),
        };
        Ok(Activity {
            kind: "trigger_run".into(),
            time: r.get(2)?,
            channel: r.get(3)?,
            room: None,
            id: r.get(0)?,
            author: serde_json::json!({ "trigger": trigger_id }),
            summary,
            trigger_name: Some(r.get(7)?),
        })
    })?;
    for row in rows {
        out.push(row?);
    }
    // RFC 3339 UTC strings with fixed precision sort as times.
    out.sort_by(|a, b| b.time.cmp(&a.time));
    out.truncate(limit.max(0) as usize);
    Ok(out)
}

/// Livechat numbers for the dashboard; `None` while the livechat tables do not exist.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct LivechatCounts {
    pub queue: i64,
    pub open_chats: i64,
}

fn table_exists(conn: &Connection, name: &str) -> StoreResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The livechat queue and open conversations (not closed: queued, pending, served),
/// counted by the livechat store; `None` before the livechat migration has run.
pub fn livechat_counts(conn: &Connection) -> StoreResult<Option<LivechatCounts>> {
    if !table_exists(conn, "livechat_rooms")? {
        return Ok(None);
    }
    let (queue, open_chats) = super::livechat::counts(conn)?;
    Ok(Some(LivechatCounts { queue, open_chats }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn livechat_counts_follow_room_status() {
        let conn = Connection::open_in_memory().unwrap();
        assert!(livechat_counts(&conn).unwrap().is_none());
        conn.execute_batch(
            "CREATE TABLE livechat_rooms (id TEXT PRIMARY KEY, status TEXT NOT NULL);
             INSERT INTO livechat_rooms VALUES ('a', 'queued'), ('b', 'queued'),
               ('c', 'open'), ('d', 'closed'), ('e', 'pending');",
        )
        .unwrap();
        let c = livechat_counts(&conn).unwrap().unwrap();
        assert_eq!((c.queue, c.open_chats), (2, 4));
    }

    #[test]
    fn previews_are_cut_on_characters() {
        let long = "é".repeat(500);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert_eq!(preview("short"), "short");
    }
}
