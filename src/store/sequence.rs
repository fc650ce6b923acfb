//! Channel id sequences as the writer thread sees them. The last id of each channel
//! lives in `channel_seq`, but bumping that row for every message costs a statement per
//! publish. The writer is the only thread that hands out ids, so it keeps the numbers in
//! memory, hands them out from there and writes each changed row once per batch, inside
//! the batch's transaction, just before the commit. A batch that fails to commit takes
//! the in-memory numbers with it (they are loaded again from the database), so an id is
//! never reused and never goes back.
//!
//! The cache is per thread and exists only on the writer thread (`install`); any other
//! thread that stores a message falls back to one upsert per id.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::StoreResult;

/// Channels remembered between batches at most; past that the cache starts over (the
/// database holds every number, so forgetting costs one lookup per channel).
const MAX_CHANNELS: usize = 16_384;

thread_local! {
    static WRITER_SEQUENCES: RefCell<Option<Sequences>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Sequences {
    /// channel → (last id handed out, last id written to `channel_seq`).
    last: HashMap<Box<str>, (i64, i64)>,
    /// Channels whose `channel_seq` row is behind, written by `flush`.
    dirty: Vec<Box<str>>,
}

/// Makes the current thread (the writer) keep sequences in memory.
pub(super) fn install() {
    WRITER_SEQUENCES.with(|s| *s.borrow_mut() = Some(Sequences::default()));
}

/// Next id of `channel`: strictly greater than every id it ever had.
pub(super) fn next_id(conn: &Connection, channel: &str) -> StoreResult<i64> {
    let cached = WRITER_SEQUENCES.with(|s| -> Option<StoreResult<i64>> {
        let mut s = s.borrow_mut();
        let seqs = s.as_mut()?;
        Some(seqs.next(conn, channel))
    });
    match cached {
        Some(id) => id,
        None => upsert_next(conn, channel),
    }
}

/// Writes the rows that are behind; called inside the batch's transaction, before COMMIT.
pub(super) fn flush(conn: &Connection) -> StoreResult<()> {
    WRITER_SEQUENCES.with(|s| match s.borrow_mut().as_mut() {
        Some(seqs) => seqs.flush(conn),
        None => Ok(()),
    })
}

/// Forgets every in-memory number (the batch did not commit, or a channel's sequence
/// was removed); they are read again from the database when next needed.
pub(super) fn forget() {
    WRITER_SEQUENCES.with(|s| {
        if let Some(seqs) = s.borrow_mut().as_mut() {
            seqs.last.clear();
            seqs.dirty.clear();
        }
    });
}

/// Forgets one channel's number: its sequence row is being removed with its history.
pub(super) fn forget_channel(channel: &str) {
    WRITER_SEQUENCES.with(|s| {
        if let Some(seqs) = s.borrow_mut().as_mut() {
            seqs.last.remove(channel);
            seqs.dirty.retain(|c| &**c != channel);
        }
    });
}

impl Sequences {
    fn next(&mut self, conn: &Connection, channel: &str) -> StoreResult<i64> {
        let entry = match self.last.get_mut(channel) {
            Some(entry) => entry,
            None => {
                let stored = stored_last_id(conn, channel)?;
                self.last.entry(channel.into()).or_insert((stored, stored))
            }
        };
        entry.0 += 1;
        if entry.0 == entry.1 + 1 {
            self.dirty.push(channel.into());
        }
        Ok(entry.0)
    }

    fn flush(&mut self, conn: &Connection) -> StoreResult<()> {
        if !self.dirty.is_empty() {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO channel_seq(channel, last_id) VALUES (?1, ?2)
                 ON CONFLICT(channel) DO UPDATE SET last_id = excluded.last_id",
            )?;
            for channel in self.dirty.drain(..) {
                if let Some(entry) = self.last.get_mut(&channel) {
                    stmt.execute(params![&*channel, entry.0])?;
                    entry.1 = entry.0;
                }
            }
        }
        if self.last.len() > MAX_CHANNELS {
            self.last.clear();
        }
        Ok(())
    }
}

/// The highest id `channel` has used: its `channel_seq` row, or a stored message above it
/// (one of this batch's, written before its row was).
fn stored_last_id(conn: &Connection, channel: &str) -> StoreResult<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT max(
             coalesce((SELECT last_id FROM channel_seq WHERE channel = ?1), 0),
             coalesce((SELECT max(id) FROM messages WHERE channel = ?1), 0))",
    )?;
    Ok(stmt.query_row([channel], |r| r.get(0))?)
}

fn upsert_next(conn: &Connection, channel: &str) -> StoreResult<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO channel_seq(channel, last_id) VALUES (?1, 1)
         ON CONFLICT(channel) DO UPDATE SET last_id = last_id + 1
         RETURNING last_id",
    )?;
    Ok(stmt.query_row([channel], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OptionalExtension;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut conn).unwrap();
        conn
    }

    fn stored(conn: &Connection, channel: &str) -> Option<i64> {
        conn.query_row(
            "SELECT last_id FROM channel_seq WHERE channel = ?1",
            [channel],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
    }

    #[test]
    fn without_the_writer_cache_every_id_is_an_upsert() {
        let conn = db();
        assert_eq!(next_id(&conn, "a").unwrap(), 1);
        assert_eq!(next_id(&conn, "a").unwrap(), 2);
        assert_eq!(stored(&conn, "a"), Some(2));
    }

    #[test]
    fn the_writer_hands_ids_out_from_memory_and_writes_each_row_once_per_batch() {
        let conn = db();
        conn.execute("INSERT INTO channel_seq VALUES ('a', 41)", [])
            .unwrap();
        install();
        assert_eq!(next_id(&conn, "a").unwrap(), 42);
        assert_eq!(next_id(&conn, "a").unwrap(), 43);
        assert_eq!(next_id(&conn, "b").unwrap(), 1);
        assert_eq!(stored(&conn, "a"), Some(41), "not written before the flush");
        flush(&conn).unwrap();
        assert_eq!(
            (stored(&conn, "a"), stored(&conn, "b")),
            (Some(43), Some(1))
        );
        assert_eq!(next_id(&conn, "a").unwrap(), 44);
        flush(&conn).unwrap();
        assert_eq!(stored(&conn, "a"), Some(44));
    }

    #[test]
    fn after_a_failed_batch_ids_continue_from_what_the_database_holds() {
        let conn = db();
        install();
        assert_eq!(next_id(&conn, "a").unwrap(), 1);
        flush(&conn).unwrap();
        // A message stored in a batch whose row is not yet written: never reused.
        assert_eq!(next_id(&conn, "a").unwrap(), 2);
        conn.execute(
            "INSERT INTO messages(channel, id, author, created_at, created_unix, payload)
             VALUES ('a', 2, '{}', '', 0, 'null')",
            [],
        )
        .unwrap();
        forget();
        assert_eq!(next_id(&conn, "a").unwrap(), 3);
        forget_channel("a");
        conn.execute("DELETE FROM messages", []).unwrap();
        conn.execute("DELETE FROM channel_seq", []).unwrap();
        assert_eq!(
            next_id(&conn, "a").unwrap(),
            1,
            "a removed channel starts over"
        );
    }
}
