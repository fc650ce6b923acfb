//! Entry points for fuzzing: the untrusted-input parsers exactly as the server runs them,
//! each with the invariants it must keep on any input. Driven by the cargo-fuzz targets
//! in `fuzz/` (long runs) and by a short proptest run in `tests/fuzz_short.rs`; a panic
//! or a failed assertion here is a bug.

use bytes::BytesMut;
use serde_json::Value;

use crate::api::channels::parse_publish_body;
use crate::channels::input::{new_channel, updated_channel};
use crate::channels::message::check_payload;
use crate::channels::model::{validate_channel_filter, validate_name, validate_room};
use crate::realtime::protocol::{self, ErrorCode};
use crate::realtime::wsio::{FrameReader, Incoming};

/// The WebSocket frame reader fed `data`, split into reads at the lengths `cuts` gives
/// (the first byte of `data` picks the frame limit): it never holds more than its bound,
/// never yields a message over the limit, and stays failed once it failed.
pub fn frame_reader(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max_size = 16 + usize::from(first) * 8;
    let mut reader = FrameReader::new(BytesMut::new(), max_size);
    let mut failed = false;
    let mut at = 0;
    let mut cut = 1;
    while at < rest.len() {
        // Read sizes vary 1..=64 bytes, derived from the data itself.
        cut = (cut * 31 + usize::from(rest[at])) % 64 + 1;
        let end = (at + cut).min(rest.len());
        reader.extend(&rest[at..end]);
        at = end;
        while let Some(next) = reader.next_message() {
            match next {
                Ok(msg) => {
                    assert!(!failed, "a message after a failure");
                    let len = match &msg {
                        Incoming::Text(t) => t.len(),
                        Incoming::Binary(b) | Incoming::Ping(b) | Incoming::Pong(b) => b.len(),
                        Incoming::Close(_) => 0,
                    };
                    assert!(
                        len <= max_size,
                        "{len}-byte message over the {max_size} limit"
                    );
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            reader.buffered() <= reader.buffer_bound() + 64,
            "holds {} bytes, bound {}",
            reader.buffered(),
            reader.buffer_bound()
        );
        if failed {
            return;
        }
    }
}

/// A client text frame through the session's first steps: decoding, where replies go,
/// the channel and room rules, and the reply frames built from it (always valid JSON).
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match protocol::decode_client_frame(text) {
        Ok(frame) => {
            if let Some(channel) = &frame.options.channel {
                if let Ok(name) = validate_name(channel, false) {
                    assert_eq!(validate_name(&name, false).as_deref(), Ok(name.as_str()));
                    assert!(!name
                        .split('/')
                        .any(|s| s.is_empty() || s == "." || s == ".."));
                }
                let _ = validate_channel_filter(channel);
            }
            if let Some(room) = &frame.options.room {
                let _ = validate_room(room);
            }
            for reply in [
                protocol::ack_frame(&frame.reply_to, Some(1), true),
                protocol::error_frame(&frame.reply_to, ErrorCode::BadRequest, &frame.action),
                protocol::leave_frame(&frame.reply_to),
            ] {
                let parsed: Result<Value, _> = serde_json::from_str(&reply);
                assert!(parsed.is_ok(), "reply is not JSON: {reply}");
            }
        }
        Err(message) => {
            let reply = protocol::error_frame(&Default::default(), ErrorCode::BadRequest, &message);
            assert!(serde_json::from_str::<Value>(&reply).is_ok());
        }
    }
}

/// REST bodies as the routes decode them: a publish body, and a channel create/update
/// body. Whatever is accepted is consistent (a created channel's name passes the name
/// rule, an update never changes name or type).
pub fn rest_bodies(data: &[u8]) {
    // Accepted = decoded by the route and passed by the publish pipeline's payload check.
    if let Ok((payload, room)) = parse_publish_body(data) {
        let readable = check_payload(&payload).is_ok();
        assert_eq!(
            readable,
            serde_json::from_str::<Value>(payload.get()).is_ok(),
            "the payload check and a JSON parser disagree on {}",
            payload.get()
        );
        if let Some(room) = room {
            let _ = validate_room(&room);
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(channel) = new_channel(&body, "now") {
        assert_eq!(
            validate_name(&channel.name, true).as_deref(),
            Ok(channel.name.as_str())
        );
        if let Ok(updated) = updated_channel(&channel, &body, "later") {
            assert_eq!(updated.name, channel.name);
            assert_eq!(updated.channel_type, channel.channel_type);
        }
        let _ = channel.to_json("/api/v1");
    }
}
