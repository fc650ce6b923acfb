//! A WebSocket on a raw `TcpStream` (server side, after the handshake). It holds no
//! read or write buffer while idle: reads wait for readiness and only then allocate,
//! and a buffer is dropped as soon as everything in it was decoded or written. This is
//! what keeps an idle connection at a few hundred bytes instead of the 16 KiB the actix
//! dispatcher keeps per socket.

use std::io;

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{CloseReason, Codec, Frame, Item, Message, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bytes reserved for one read; a frame larger than this just takes more reads.
const READ_CHUNK: usize = 4096;
/// How long the close frame may take to go out before the socket is just dropped.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A complete message from the client (continuations already joined).
pub enum Incoming {
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<CloseReason>),
}

pub struct WsIo {
    io: TcpStream,
    codec: Codec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    /// Fragments of a message that arrives in continuation frames.
    parts: Vec<Bytes>,
    parts_len: usize,
    parts_text: bool,
    /// A fragmented message went over the limit: its remaining fragments are skipped.
    overflowed: bool,
    max_size: usize,
}

impl WsIo {
    /// `read_buf` holds whatever the HTTP layer read past the handshake request.
    pub fn new(io: TcpStream, read_buf: BytesMut, max_size: usize) -> WsIo {
        WsIo {
            io,
            codec: Codec::new().max_size(max_size),
            read_buf,
            write_buf: BytesMut::new(),
            parts: Vec::new(),
            parts_len: 0,
            parts_text: false,
            overflowed: false,
            max_size,
        }
    }

    /// The next message; `None` once the peer closed the TCP stream.
    ///
    /// Cancel-safe (it is raced against the outbox in `select!`): the only await is the
    /// readiness wait, and every decoded byte is kept in `self` before returning.
    pub async fn recv(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        loop {
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(frame)) => {
                    if let Some(msg) = self.assemble(frame) {
                        return Some(msg);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.read_buf.is_empty() {
                // Idle sockets keep no buffer. Unconditionally: even an empty view with no
                // spare capacity would keep the shared allocation of the last read alive.
                self.read_buf = BytesMut::new();
            }
            if let Err(e) = self.io.readable().await {
                return Some(Err(ProtocolError::Io(e)));
            }
            self.read_buf.reserve(READ_CHUNK);
            match self.io.try_read_buf(&mut self.read_buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(ProtocolError::Io(e))),
            }
        }
    }

    /// Turns a frame into a message, joining continuation frames up to `max_size`
    /// (an overflow is reported once, the rest of that message is skipped).
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
        if self.overflowed {
            if last {
                self.overflowed = false;
            }
            return None;
        }
        self.parts_len += bytes.len();
        if self.parts_len > self.max_size {
            self.parts.clear();
            self.parts_len = 0;
            // The last fragment ends the message: nothing left to skip.
            self.overflowed = !last;
            return Some(Err(ProtocolError::Overflow));
        }
        if !bytes.is_empty() {
            self.parts.push(bytes);
        }
        if !last {
            return None;
        }
        let mut whole = BytesMut::with_capacity(self.parts_len);
        for part in self.parts.drain(..) {
            whole.extend_from_slice(&part);
        }
        self.parts = Vec::new();
        self.parts_len = 0;
        let bytes = whole.freeze();
        Some(if self.parts_text {
            text(bytes)
        } else {
            Ok(Incoming::Binary(bytes))
        })
    }

    /// Encodes a message for the next `flush` (several queued messages go out in one write).
    pub fn queue(&mut self, msg: Message) -> Result<(), ProtocolError> {
        self.codec.encode(msg, &mut self.write_buf)
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

    /// Sends a close frame (with `reason` if any) and shuts the write side down; the
    /// socket is closed when `self` is dropped. Bounded in time: a peer that stopped
    /// reading must not keep the task and socket forever (the HTTP dispatcher that ran
    /// sockets before had its own disconnect timeout for this).
    pub async fn close(mut self, reason: Option<CloseReason>) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.send(Message::Close(reason)).await.is_ok() {
                let _ = self.io.shutdown().await;
            }
        })
        .await;
    }
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
        assert_eq!(ws.read_buf.capacity(), 0);
    }

    #[tokio::test]
    async fn an_oversized_fragmented_message_is_reported_once_and_skipped() {
        let (mut ws, mut client) = pair(4).await;
        let mut bytes = frame(false, 1, b"abc");
        bytes.extend(frame(false, 0, b"def"));
        bytes.extend(frame(true, 0, b"ghi"));
        bytes.extend(frame(true, 1, b"ok"));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(
            ws.recv().await,
            Some(Err(ProtocolError::Overflow))
        ));
        match ws.recv().await {
            Some(Ok(Incoming::Text(t))) => assert_eq!(&*t, "ok"),
            _ => panic!("expected the next message"),
        }
        drop(client);
        assert!(ws.recv().await.is_none());
    }
}
