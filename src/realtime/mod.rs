//! (placeholder) Realtime delivery: hub, WebSocket sessions, protocol frames, presence.
