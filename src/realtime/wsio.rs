//! A WebSocket on a raw `TcpStream` (server side, after the handshake). It holds no
//! read or write buffer while idle: reads wait for readiness and only then allocate,
//! and a buffer is dropped as soon as everything in it was decoded or written. This is
//! what keeps an idle connection at a few hundred bytes instead of the 16 KiB the actix
//! dispatcher keeps per socket.
//!
//! Reads are bounded: a frame whose header declares more than `max_size` bytes (alone, or
//! with the fragments of its message before it) is refused as soon as the header is in,
//! so a connection never buffers more than about `max_size` of client data. Closing is a
//! handshake: close frame out, then the peer's frames are read (and dropped) until its
//! close frame, EOF or a short timeout, so the kernel never resets a socket whose close
//! frame the peer has not read yet.

use std::io;
use std::time::Duration;

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{CloseReason, Codec, Frame, Item, Message, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes reserved for one read; a frame larger than this just takes more reads.
const READ_CHUNK: usize = 4096;
/// How long the close frame may take to go out before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long, after our close frame, the peer has to answer with its own (or hang up).
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// A complete message from the client (continuations already joined).
pub enum Incoming {
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<CloseReason>),
}

/// The reading half of the protocol, without the socket: bytes in, whole messages out,
/// never more than about `max_size` held (the fuzz targets drive this directly).
pub struct FrameReader {
    codec: Codec,
    read_buf: BytesMut,
    /// The message arriving in continuation frames so far, copied (holding the read
    /// chunks each fragment came in would cost far more than the fragment).
    parts: BytesMut,
    parts_len: usize,
    parts_text: bool,
    /// A frame could not be read (oversized, malformed): the stream is out of step with
    /// the frame boundaries, so nothing more is decoded, only drained at close.
    desynced: bool,
    max_size: usize,
}

pub struct WsIo {
    io: TcpStream,
    reader: FrameReader,
    write_buf: BytesMut,
}

impl FrameReader {
    /// `read_buf` holds bytes already received (what the HTTP layer read past the
    /// handshake request).
    pub fn new(read_buf: BytesMut, max_size: usize) -> FrameReader {
        FrameReader {
            codec: Codec::new().max_size(max_size),
            read_buf,
            parts: BytesMut::new(),
            parts_len: 0,
            parts_text: false,
            desynced: false,
            max_size,
        }
    }

    /// Appends received bytes (for callers that do not read into [`Self::spare`]).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.read_buf.extend_from_slice(bytes);
    }

    /// The next complete message from the bytes held; `None` until more bytes arrive.
    /// After an error nothing more is decoded (every later call reports `Overflow`).
    pub fn next_message(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        loop {
            if self.desynced {
                return Some(Err(ProtocolError::Overflow));
            }
            if let Err(e) = self.check_declared_length() {
                self.desynced = true;
                self.read_buf = BytesMut::new();
                return Some(Err(e));
            }
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(frame)) => {
                    if let Some(msg) = self.assemble(frame) {
                        return Some(msg);
                    }
                }
                Ok(None) => {
                    if self.read_buf.is_empty() {
                        // Idle sockets keep no buffer. Unconditionally: even an empty view
                        // with no spare capacity would keep the last read's allocation.
                        self.read_buf = BytesMut::new();
                    }
                    return None;
                }
                Err(e) => {
                    self.desynced = true;
                    self.read_buf = BytesMut::new();
                    return Some(Err(e));
                }
            }
        }
    }

    /// Bytes held for reading (what one connection costs while a frame is arriving).
    pub fn buffered(&self) -> usize {
        self.read_buf.capacity() + self.parts.capacity()
    }

    /// The most [`Self::buffered`] may reach: one frame's header and payload, the
    /// message's earlier fragments, and one read chunk.
    pub fn buffer_bound(&self) -> usize {
        2 * self.max_size + 14 + 2 * READ_CHUNK
    }

    /// Refuses the frame at the front of the buffer as soon as its header says it is too
    /// big (the codec itself only says so once the whole payload is buffered); a
    /// continuation counts with the fragments of its message already held.
    fn check_declared_length(&self) -> Result<(), ProtocolError> {
        let Some(header) = peek_header(&self.read_buf) else {
            return Ok(());
        };
        let held = if header.continuation {
            self.parts_len
        } else {
            0
        };
        if header.payload_len > self.max_size.saturating_sub(held) as u64 {
            return Err(ProtocolError::Overflow);
        }
        Ok(())
    }

    /// Turns a frame into a message, joining continuation frames (up to `max_size`, which
    /// `check_declared_length` already enforced before the fragment was buffered).
    fn assemble(&mut self, frame: Frame) -> Option<Result<Incoming, ProtocolError>> {
        let msg = match frame {
            Frame::Text(bytes) => text(bytes),
            Frame::Binary(bytes) => Ok(Incoming::Binary(bytes)),
            Frame::Ping(bytes) => Ok(Incoming::Ping(bytes)),
            Frame::Pong(bytes) => Ok(Incoming::Pong(bytes)),
            Frame::Close(reason) => Ok(Incoming::Close(reason)),
            Frame::Continuation(item) => return self.continuation(item),
        };
        Some(msg)
    }

    fn continuation(&mut self, item: Item) -> Option<Result<Incoming, ProtocolError>> {
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.parts_text = true;
                (b, false)
            }
            Item::FirstBinary(b) => {
                self.parts_text = false;
                (b, false)
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        self.parts_len += bytes.len();
        if self.parts_len > self.max_size {
            self.parts = BytesMut::new();
            self.parts_len = 0;
            self.desynced = true;
            return Some(Err(ProtocolError::Overflow));
        }
        self.parts.extend_from_slice(&bytes);
        if !last {
            return None;
        }
        let bytes = std::mem::take(&mut self.parts).freeze();
        self.parts_len = 0;
        Some(if self.parts_text {
            text(bytes)
        } else {
            Ok(Incoming::Binary(bytes))
        })
    }
}

impl WsIo {
    /// `read_buf` holds whatever the HTTP layer read past the handshake request.
    pub fn new(io: TcpStream, read_buf: BytesMut, max_size: usize) -> WsIo {
        WsIo {
            io,
            reader: FrameReader::new(read_buf, max_size),
            write_buf: BytesMut::new(),
        }
    }

    /// The next message; `None` once the peer closed the TCP stream.
    ///
    /// Cancel-safe (it is raced against the outbox in `select!`): the only await is the
    /// readiness wait, and every decoded byte is kept in `self` before returning.
    pub async fn recv(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        loop {
            if let Some(msg) = self.reader.next_message() {
                return Some(msg);
            }
            if let Err(e) = self.io.readable().await {
                return Some(Err(ProtocolError::Io(e)));
            }
            self.reader.read_buf.reserve(READ_CHUNK);
            match self.io.try_read_buf(&mut self.reader.read_buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(ProtocolError::Io(e))),
            }
        }
    }

    /// Encodes a message for the next `flush` (several queued messages go out in one write).
    pub fn queue(&mut self, msg: Message) -> Result<(), ProtocolError> {
        self.reader.codec.encode(msg, &mut self.write_buf)
    }

    pub fn queue_text(&mut self, text: ByteString) -> Result<(), ProtocolError> {
        self.queue(Message::Text(text))
    }

    /// Writes everything queued, then lets the buffer go.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.io.write_all(&self.write_buf).await;
        self.write_buf = BytesMut::new();
        result
    }

    /// Queues and writes one message.
    pub async fn send(&mut self, msg: Message) -> io::Result<()> {
        self.queue(msg).map_err(io::Error::other)?;
        self.flush().await
    }

    pub async fn text(&mut self, text: impl Into<ByteString>) -> io::Result<()> {
        self.send(Message::Text(text.into())).await
    }

    pub async fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(Message::Ping(Bytes::copy_from_slice(payload)))
            .await
    }

    pub async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(Message::Pong(Bytes::copy_from_slice(payload)))
            .await
    }

    /// The close handshake: sends a close frame (with `reason` if any), stops writing,
    /// then reads and drops whatever the peer still sends until its close frame, EOF or
    /// `CLOSE_LINGER`; the socket is closed when `self` is dropped. Bounded in time, so a
    /// peer that stopped reading or never answers cannot keep the task and socket.
    /// Dropping a socket with unread bytes makes the kernel send a reset, and a reset can
    /// destroy the close frame before the peer reads it (it would see 1006).
    pub async fn close(mut self, reason: Option<CloseReason>) {
        let reason = reason.map(fit_control_frame);
        let sent = tokio::time::timeout(CLOSE_TIMEOUT, async {
            self.send(Message::Close(reason)).await?;
            self.io.shutdown().await
        })
        .await;
        if matches!(sent, Ok(Ok(()))) {
            let _ = tokio::time::timeout(CLOSE_LINGER, self.await_peer_close()).await;
        }
    }

    /// Reads until the peer's close frame or EOF, keeping at most one frame buffered;
    /// once frames cannot be decoded any more, just drains.
    async fn await_peer_close(&mut self) {
        // On the heap, and only now: an array here would sit in every idle connection's
        // future (the session's state holds room for its close path).
        let mut scratch = vec![0u8; 2048];
        loop {
            while !self.reader.desynced {
                match self.reader.next_message() {
                    Some(Ok(Incoming::Close(_))) => return,
                    Some(_) => continue,
                    None => break,
                }
            }
            if self.reader.desynced {
                match self.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
            self.reader.read_buf.reserve(READ_CHUNK);
            match self.io.read_buf(&mut self.reader.read_buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Bytes held for reading (what one connection costs while a frame is arriving).
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }
}

/// A close frame is a control frame: 125 bytes of payload at most, 2 of them the code.
/// A longer reason makes the frame invalid and the peer sees 1006, so it is cut (on a
/// character boundary).
fn fit_control_frame(mut reason: CloseReason) -> CloseReason {
    const MAX_DESCRIPTION: usize = 123;
    if let Some(text) = &mut reason.description {
        if text.len() > MAX_DESCRIPTION {
            let mut end = MAX_DESCRIPTION;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
    }
    reason
}

struct Header {
    continuation: bool,
    payload_len: u64,
}

/// The opcode and declared payload length of the frame at the front of `buf`, once its
/// header is complete.
fn peek_header(buf: &[u8]) -> Option<Header> {
    if buf.len() < 2 {
        return None;
    }
    let continuation = buf[0] & 0x0F == 0;
    let payload_len = match buf[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            u64::from_be_bytes(bytes)
        }
        n => u64::from(n),
    };
    Some(Header {
        continuation,
        payload_len,
    })
}

/// Text frames must be UTF-8; anything else is a protocol error.
fn text(bytes: Bytes) -> Result<Incoming, ProtocolError> {
    ByteString::try_from(bytes)
        .map(Incoming::Text)
        .map_err(|e| ProtocolError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A client frame: FIN flag, opcode, masked payload (clients must mask).
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![(u8::from(fin) << 7) | opcode, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn pair(max: usize) -> (WsIo, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (WsIo::new(server, BytesMut::new(), max), client)
    }

    #[tokio::test]
    async fn joins_continuations_and_frees_the_read_buffer() {
        let (mut ws, mut client) = pair(16).await;
        let mut bytes = frame(false, 1, b"hel");
        bytes.extend(frame(true, 9, b"p")); // a ping between fragments
        bytes.extend(frame(true, 0, b"lo"));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Incoming::Ping(_)))));
        match ws.recv().await {
            Some(Ok(Incoming::Text(t))) => assert_eq!(&*t, "hello"),
            _ => panic!("expected the joined text"),
        }
        client.write_all(&frame(true, 1, b"x")).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Incoming::Text(_)))));
        // Idle again: waiting for the next frame holds no buffer.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), ws.recv()).await;
        assert!(waiting.is_err());
        assert_eq!(ws.reader.read_buf.capacity(), 0);
    }

    /// A client frame header declaring `len` bytes (masked, no payload yet).
    fn header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode, 0x80 | 127];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[1, 2, 3, 4]);
        out
    }

    #[tokio::test]
    async fn an_oversized_header_is_refused_before_its_payload_arrives() {
        let (mut ws, mut client) = pair(1024).await;
        client.write_all(&header(2, true, 4 << 30)).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), ws.recv()).await;
        assert!(matches!(got, Ok(Some(Err(ProtocolError::Overflow)))));
        // Nothing more is decoded from a stream out of step with its frames.
        client.write_all(&frame(true, 1, b"ok")).await.unwrap();
        assert!(matches!(
            ws.recv().await,
            Some(Err(ProtocolError::Overflow))
        ));
        assert!(ws.buffered() < 8192, "holds {} bytes", ws.buffered());
    }

    #[tokio::test]
    async fn fragments_count_against_the_limit_before_they_are_buffered() {
        let (mut ws, mut client) = pair(4).await;
        let mut bytes = frame(false, 1, b"abc");
        bytes.extend(header(0, true, 2));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(
            ws.recv().await,
            Some(Err(ProtocolError::Overflow))
        ));
    }

    #[test]
    fn long_close_reasons_are_cut_to_fit_a_control_frame() {
        let reason = fit_control_frame(CloseReason {
            code: actix_http::ws::CloseCode::Policy,
            description: Some("é".repeat(100)),
        });
        let text = reason.description.unwrap();
        assert!(text.len() <= 123 && text.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn close_waits_for_the_peers_close_frame() {
        let (ws, mut client) = pair(1024).await;
        // Unread client frames at close time must not turn into a reset.
        client.write_all(&frame(true, 1, b"unread")).await.unwrap();
        let closing = tokio::spawn(ws.close(Some(CloseReason {
            code: actix_http::ws::CloseCode::Policy,
            description: None,
        })));
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        use tokio::io::AsyncReadExt;
        // The close frame arrives, then EOF (the server stopped writing).
        loop {
            let n = client.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(&got[..4], &[0x88, 2, 0x03, 0xF0]); // close, 1008
        assert!(
            !closing.is_finished(),
            "the server waits for the client's close"
        );
        client
            .write_all(&frame(true, 8, &[0x03, 0xF0]))
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), closing)
            .await
            .expect("close returns once the peer answered")
            .unwrap();
    }
}
