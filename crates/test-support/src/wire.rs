//! A tiny blocking client for the NATS text protocol, over a std `TcpStream`.
//!
//! It exists so that this crate can prove a server is ready (`CONNECT` + `PING` answered by
//! `PONG`) without an async runtime, and so that tests can poke a server with exactly the
//! protocol lines they mean (`SUB`, `PUB`, `MSG`) when checking the harness itself. It
//! speaks only what those uses need: no headers (`HPUB`/`HMSG`), no TLS, no reconnects.
//! Lattice code under test uses `async-nats`, not this.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The `CONNECT` options [`RawClient::connect`] sends.
pub const DEFAULT_CONNECT: &str = r#"{"verbose":false,"pedantic":false}"#;

/// How long [`RawClient`] operations wait for the server unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One message delivered to a subscription (`MSG <subject> <sid> [reply] <len>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Subject the message was published to.
    pub subject: String,
    /// Subscription id it was delivered on, as returned by [`RawClient::subscribe`].
    pub sid: u64,
    /// Reply subject, if the publisher set one.
    pub reply: Option<String>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// A parsed server-to-client protocol line.
enum Frame {
    Info(String),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    Err(String),
}

/// A blocking NATS text-protocol connection to a server on `127.0.0.1`.
///
/// Messages that arrive while the client waits for something else (a `PONG`, a reply) are
/// queued and handed out, in order, by [`RawClient::next_msg`]. Server `PING`s are answered.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    /// Bytes read from the socket and not parsed yet.
    buf: Vec<u8>,
    /// JSON body of the server's `INFO` line.
    info: String,
    /// Messages received while waiting for something else.
    pending: VecDeque<Msg>,
    next_sid: u64,
    timeout: Duration,
}

impl RawClient {
    /// Connects to `127.0.0.1:{port}` with [`DEFAULT_CONNECT`] and returns once the server has
    /// answered `PING` with `PONG`.
    ///
    /// # Errors
    /// Connection failures, a missing `INFO`, a protocol `-ERR` (authorization failures come
    /// back as [`ErrorKind::PermissionDenied`]) or no `PONG` within the timeout (5 s).
    pub fn connect(port: u16) -> std::io::Result<RawClient> {
        RawClient::connect_with(port, DEFAULT_CONNECT)
    }

    /// Like [`RawClient::connect`], sending `connect_json` as the `CONNECT` options, e.g.
    /// `{"verbose":false,"user":"a","pass":"b"}` for a server configured with users.
    ///
    /// # Errors
    /// As [`RawClient::connect`].
    pub fn connect_with(port: u16, connect_json: &str) -> std::io::Result<RawClient> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
        let mut client = RawClient {
            stream,
            buf: Vec::new(),
            info: String::new(),
            pending: VecDeque::new(),
            next_sid: 1,
            timeout: DEFAULT_TIMEOUT,
        };
        let deadline = Instant::now() + client.timeout;
        match client.read_frame(deadline)? {
            Some(Frame::Info(info)) => client.info = info,
            Some(_) => return Err(protocol_error("server did not open with INFO")),
            None => return Err(timed_out("INFO")),
        }
        client.send(format!("CONNECT {connect_json}\r\nPING\r\n").as_bytes())?;
        client.wait_pong(deadline)?;
        Ok(client)
    }

    /// The JSON body of the server's `INFO` line, e.g. containing `"jetstream":true`.
    pub fn info(&self) -> &str {
        &self.info
    }

    /// Sets how long [`RawClient::flush`] waits for `PONG`.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Subscribes to `subject` (`SUB <subject> <sid>`) and returns the new subscription id.
    /// Call [`RawClient::flush`] afterwards to be sure the server has registered it.
    ///
    /// # Errors
    /// Write failures.
    pub fn subscribe(&mut self, subject: &str) -> std::io::Result<u64> {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes())?;
        Ok(sid)
    }

    /// Removes a subscription (`UNSUB <sid>`).
    ///
    /// # Errors
    /// Write failures.
    pub fn unsubscribe(&mut self, sid: u64) -> std::io::Result<()> {
        self.send(format!("UNSUB {sid}\r\n").as_bytes())
    }

    /// Publishes `payload` to `subject` (`PUB <subject> <len>`).
    ///
    /// # Errors
    /// Write failures.
    pub fn publish(&mut self, subject: &str, payload: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.publish_frame(subject, None, payload.as_ref())
    }

    /// Publishes `payload` to `subject` with a reply subject (`PUB <subject> <reply> <len>`).
    ///
    /// # Errors
    /// Write failures.
    pub fn publish_with_reply(&mut self, subject: &str, reply: &str, payload: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.publish_frame(subject, Some(reply), payload.as_ref())
    }

    /// Sends `PING` and waits for `PONG`: everything sent before has been processed by the
    /// server (in particular, earlier subscriptions are registered on this server).
    ///
    /// # Errors
    /// A protocol `-ERR`, a closed connection, or no `PONG` within the timeout.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.send(b"PING\r\n")?;
        self.wait_pong(Instant::now() + self.timeout)
    }

    /// The next message on any subscription, or `None` if none arrives within `timeout`.
    ///
    /// # Errors
    /// A protocol `-ERR` or a closed connection.
    pub fn next_msg(&mut self, timeout: Duration) -> std::io::Result<Option<Msg>> {
        self.take_msg(None, Instant::now() + timeout)
    }

    /// Sends a request and waits up to `timeout` for its first reply, which arrives on a
    /// fresh inbox subscription. Other messages that arrive meanwhile stay queued.
    ///
    /// # Errors
    /// Write/protocol failures, or [`ErrorKind::TimedOut`] if no reply came.
    pub fn request(&mut self, subject: &str, payload: impl AsRef<[u8]>, timeout: Duration) -> std::io::Result<Msg> {
        let inbox = format!("_INBOX.raw.{}.{}", std::process::id(), self.next_sid);
        let sid = self.subscribe(&inbox)?;
        self.publish_with_reply(subject, &inbox, payload)?;
        let reply = self.take_msg(Some(sid), Instant::now() + timeout);
        self.unsubscribe(sid)?;
        reply?.ok_or_else(|| timed_out(&format!("a reply to {subject}")))
    }

    fn publish_frame(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) -> std::io::Result<()> {
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        let mut frame = format!("PUB {subject}{reply} {}\r\n", payload.len()).into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame)
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `PONG`, queueing messages and answering `PING`s on the way.
    fn wait_pong(&mut self, deadline: Instant) -> std::io::Result<()> {
        loop {
            match self.next_frame(deadline)? {
                Some(Frame::Pong) => return Ok(()),
                Some(Frame::Msg(msg)) => self.pending.push_back(msg),
                Some(_) => {}
                None => return Err(timed_out("PONG")),
            }
        }
    }

    /// The first queued or incoming message on `sid` (or on any sid if `None`).
    fn take_msg(&mut self, sid: Option<u64>, deadline: Instant) -> std::io::Result<Option<Msg>> {
        let wanted = |msg: &Msg| sid.is_none_or(|sid| msg.sid == sid);
        if let Some(at) = self.pending.iter().position(wanted) {
            return Ok(self.pending.remove(at));
        }
        loop {
            match self.next_frame(deadline)? {
                Some(Frame::Msg(msg)) if wanted(&msg) => return Ok(Some(msg)),
                Some(Frame::Msg(msg)) => self.pending.push_back(msg),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// The next frame that needs the caller's attention: answers `PING`, skips `+OK`, turns
    /// `-ERR` into an error. `None` on deadline.
    fn next_frame(&mut self, deadline: Instant) -> std::io::Result<Option<Frame>> {
        loop {
            match self.read_frame(deadline)? {
                Some(Frame::Ping) => self.send(b"PONG\r\n")?,
                Some(Frame::Ok) => {}
                Some(Frame::Err(message)) => {
                    let kind = if message.contains("Authorization") || message.contains("Authentication") {
                        ErrorKind::PermissionDenied
                    } else {
                        ErrorKind::Other
                    };
                    return Err(std::io::Error::new(kind, format!("-ERR {message}")));
                }
                other => return Ok(other),
            }
        }
    }

    /// Reads one frame, waiting for more bytes until `deadline`. `None` on deadline.
    fn read_frame(&mut self, deadline: Instant) -> std::io::Result<Option<Frame>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(frame) = parse_frame(&mut self.buf)? {
                return Ok(Some(frame));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "server closed the connection"));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Parses and removes one complete frame from the front of `buf`; `None` if incomplete.
fn parse_frame(buf: &mut Vec<u8>) -> std::io::Result<Option<Frame>> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
    let (op, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
    let frame = match op.to_ascii_uppercase().as_str() {
        "INFO" => Frame::Info(rest.trim().to_owned()),
        "PING" => Frame::Ping,
        "PONG" => Frame::Pong,
        "+OK" => Frame::Ok,
        "-ERR" => Frame::Err(rest.trim().to_owned()),
        "MSG" => {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let (subject, sid, reply, len) = match fields.as_slice() {
                [subject, sid, len] => (subject, sid, None, len),
                [subject, sid, reply, len] => (subject, sid, Some(reply), len),
                _ => return Err(protocol_error(&format!("malformed MSG line: {line}"))),
            };
            let parse_err = || protocol_error(&format!("malformed MSG line: {line}"));
            let len: usize = len.parse().map_err(|_| parse_err())?;
            let sid: u64 = sid.parse().map_err(|_| parse_err())?;
            let start = eol + 2;
            if buf.len() < start + len + 2 {
                return Ok(None); // payload not fully read yet
            }
            let payload = buf[start..start + len].to_vec();
            let msg = Msg { subject: (*subject).to_owned(), sid, reply: reply.map(|r| (*r).to_owned()), payload };
            buf.drain(..start + len + 2);
            return Ok(Some(Frame::Msg(msg)));
        }
        _ => return Err(protocol_error(&format!("unexpected protocol line: {line}"))),
    };
    buf.drain(..eol + 2);
    Ok(Some(frame))
}

fn protocol_error(message: &str) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, message.to_owned())
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(ErrorKind::TimedOut, format!("timed out waiting for {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Frame> {
        let mut buf = bytes.to_vec();
        let mut frames = Vec::new();
        while let Some(frame) = parse_frame(&mut buf).expect("valid protocol") {
            frames.push(frame);
        }
        frames
    }

    #[test]
    fn parses_msg_with_and_without_reply() {
        let frames = parse_all(b"MSG foo 1 5\r\nhello\r\nMSG bar 2 _INBOX.x 0\r\n\r\nPONG\r\n");
        let [Frame::Msg(first), Frame::Msg(second), Frame::Pong] = frames.as_slice() else {
            panic!("unexpected frames");
        };
        assert_eq!((first.subject.as_str(), first.sid), ("foo", 1));
        assert_eq!((first.reply.as_deref(), first.payload.as_slice()), (None, &b"hello"[..]));
        assert_eq!(second.reply.as_deref(), Some("_INBOX.x"));
        assert!(second.payload.is_empty());
    }

    #[test]
    fn waits_for_a_whole_payload() {
        let mut buf = b"MSG foo 1 5\r\nhel".to_vec();
        assert!(parse_frame(&mut buf).expect("valid").is_none());
        buf.extend_from_slice(b"lo\r\n");
        assert!(matches!(parse_frame(&mut buf), Ok(Some(Frame::Msg(_)))));
        assert!(buf.is_empty());
    }

    #[test]
    fn parses_control_lines() {
        let frames = parse_all(b"INFO {\"a\":1}\r\nPING\r\n+OK\r\n-ERR 'Authorization Violation'\r\n");
        assert!(matches!(&frames[0], Frame::Info(info) if info == "{\"a\":1}"));
        assert!(matches!(frames[1], Frame::Ping));
        assert!(matches!(frames[2], Frame::Ok));
        assert!(matches!(&frames[3], Frame::Err(e) if e == "'Authorization Violation'"));
    }
}
