//! One DTLS 1.2 session: an OpenSSL `SslStream` over an in-memory datagram pipe (RFC 6347).
//!
//! The pipe makes OpenSSL sans-IO: a read returns the one datagram handed in or `WouldBlock`, a
//! write records one outgoing record. [`Session`] drives the handshake when datagrams arrive or
//! its timer fires, encrypts and decrypts application datagrams and packs outgoing records into
//! datagrams no larger than the MTU (RFC 6347 §4.1.1 allows several records per datagram).
//!
//! Retransmission: OpenSSL keeps its own DTLS timer on the wall clock and only retransmits
//! when it is called after that timer expired. The session mirrors RFC 6347 §4.2.4.1 (1 s,
//! doubling, at most 60 s) on the caller's clock and calls into OpenSSL when its mirror fires;
//! if OpenSSL's clock has not quite reached its own deadline, nothing is sent and the session
//! looks again [`RETRY_AFTER`] later without doubling.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use openssl::ssl::{ErrorCode, Ssl, SslStream};

/// First retransmission interval (RFC 6347 §4.2.4.1).
pub(crate) const INITIAL_RETRANSMIT: Duration = Duration::from_secs(1);
/// Longest retransmission interval (RFC 6347 §4.2.4.1).
pub(crate) const MAX_RETRANSMIT: Duration = Duration::from_secs(60);
/// Added to each mirrored deadline so OpenSSL's own timer, started a moment later, has expired.
const SLACK: Duration = Duration::from_millis(20);
/// When OpenSSL had nothing to retransmit yet, look again this much later.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The datagram "socket" under OpenSSL.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    inbound: Vec<u8>,
    has_inbound: bool,
    outbound: VecDeque<Vec<u8>>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.has_inbound {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.has_inbound = false;
        // OpenSSL reads DTLS with a buffer larger than any record, so nothing is cut here;
        // were it shorter, the truncated datagram would fail record parsing and be dropped.
        let n = self.inbound.len().min(buf.len());
        buf[..n].copy_from_slice(&self.inbound[..n]);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbound.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a handshake step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Still handshaking (or nothing to do).
    Pending,
    /// The handshake finished during this call.
    Established,
    /// The session failed; send what [`Session::drain`] gives (maybe an alert), then drop it.
    Failed(String),
    /// The handshake deadline passed.
    TimedOut,
}

/// What reading application data gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Received {
    /// One plaintext datagram of this length is in the buffer.
    Data(usize),
    /// Nothing (more) to read.
    Empty,
    /// The peer sent close_notify; ours is queued.
    PeerClosed,
    /// A fatal alert or protocol error ended the session.
    Failed(String),
}

/// What made the session call into OpenSSL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The client's first flight.
    Start,
    /// A datagram arrived.
    Datagram,
    /// The retransmission timer fired.
    Timer,
}

#[derive(Debug)]
enum State {
    Handshaking { deadline: Instant, retransmit_at: Instant, interval: Duration },
    Established,
    Ended,
}

/// One DTLS session (either role).
pub(crate) struct Session {
    stream: SslStream<Pipe>,
    state: State,
    mtu: usize,
    /// Last time a datagram arrived or application data was sent.
    pub(crate) last_active_at: Instant,
    /// Flights resent because the retransmission timer fired.
    pub(crate) retransmissions: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("state", &self.state).field("last_active_at", &self.last_active_at).finish()
    }
}

fn describe(error: &openssl::ssl::Error) -> String {
    match error.ssl_error() {
        Some(stack) => stack
            .errors()
            .iter()
            .map(|e| e.reason().unwrap_or("unknown reason").to_string())
            .collect::<Vec<_>>()
            .join("; "),
        None => match error.io_error() {
            Some(io) => io.to_string(),
            None => format!("openssl error code {}", error.code().as_raw()),
        },
    }
}

impl Session {
    /// Wraps a configured `Ssl` (accept or connect state already set). `mtu` bounds every
    /// outgoing datagram; the handshake must finish by `now + handshake_timeout`.
    pub(crate) fn new(
        mut ssl: Ssl,
        now: Instant,
        mtu: usize,
        handshake_timeout: Duration,
    ) -> Result<Self, openssl::error::ErrorStack> {
        ssl.set_mtu(u32::try_from(mtu).unwrap_or(u32::MAX))?;
        let stream = SslStream::new(ssl, Pipe::default())?;
        Ok(Self {
            stream,
            state: State::Handshaking {
                deadline: now + handshake_timeout,
                retransmit_at: now + INITIAL_RETRANSMIT + SLACK,
                interval: INITIAL_RETRANSMIT,
            },
            mtu,
            last_active_at: now,
            retransmissions: 0,
        })
    }

    /// Whether the handshake is done and the session usable.
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// Whether the handshake is still running.
    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshaking { .. })
    }

    /// The OpenSSL session, for identity look-ups.
    pub(crate) fn ssl(&self) -> &openssl::ssl::SslRef {
        self.stream.ssl()
    }

    /// When [`Session::handle_timeout`] must run next (handshake only).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Handshaking { deadline, retransmit_at, .. } => Some(deadline.min(retransmit_at)),
            State::Established | State::Ended => None,
        }
    }

    /// Starts or continues the handshake with no new input (the client's first flight).
    pub(crate) fn start(&mut self, now: Instant) -> Step {
        self.drive(now, Trigger::Start)
    }

    /// Feeds a synthetic record to a fresh server session and throws its answer away (see
    /// `super::server`). Returns false if OpenSSL did not take it.
    pub(crate) fn prime(&mut self, record: &[u8]) -> bool {
        self.push_inbound(record);
        let ok = match self.stream.do_handshake() {
            Ok(()) => false,
            Err(e) => e.code() == ErrorCode::WANT_READ,
        };
        let pipe = self.stream.get_mut();
        pipe.outbound.clear();
        pipe.has_inbound = false;
        ok
    }

    fn push_inbound(&mut self, datagram: &[u8]) {
        let pipe = self.stream.get_mut();
        pipe.inbound.clear();
        pipe.inbound.extend_from_slice(datagram);
        pipe.has_inbound = true;
    }

    /// A datagram for this session arrived. While handshaking it drives the handshake; once
    /// established the datagram waits for [`Session::read`].
    pub(crate) fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Step {
        self.last_active_at = now;
        self.push_inbound(datagram);
        match self.state {
            State::Handshaking { .. } => self.drive(now, Trigger::Datagram),
            State::Established | State::Ended => Step::Pending,
        }
    }

    fn drive(&mut self, now: Instant, trigger: Trigger) -> Step {
        let State::Handshaking { deadline, retransmit_at, interval } = self.state else {
            return Step::Pending;
        };
        let before = self.stream.get_ref().outbound.len();
        let result = self.stream.do_handshake();
        let sent = self.stream.get_ref().outbound.len() > before;
        // Whatever OpenSSL did not read of this datagram is stale now.
        self.stream.get_mut().has_inbound = false;
        match result {
            Ok(()) => {
                self.state = State::Established;
                Step::Established
            }
            Err(e) if e.code() == ErrorCode::WANT_READ => {
                let (retransmit_at, interval) = match (trigger, sent) {
                    // A new flight (or an answer to the peer's retransmission): start over at 1 s.
                    (Trigger::Start | Trigger::Datagram, true) => {
                        (now + INITIAL_RETRANSMIT + SLACK, INITIAL_RETRANSMIT)
                    }
                    (Trigger::Start | Trigger::Datagram, false) => (retransmit_at, interval),
                    // Our timer fired and OpenSSL resent its flight: back off.
                    (Trigger::Timer, true) => {
                        self.retransmissions += 1;
                        let next = (interval * 2).min(MAX_RETRANSMIT);
                        (now + next + SLACK, next)
                    }
                    // OpenSSL's wall-clock timer has not expired yet: look again shortly.
                    (Trigger::Timer, false) => (now + RETRY_AFTER, interval),
                };
                self.state = State::Handshaking { deadline, retransmit_at, interval };
                Step::Pending
            }
            Err(e) => {
                self.state = State::Ended;
                Step::Failed(describe(&e))
            }
        }
    }

    /// Fires the handshake deadline or the retransmission timer; spurious calls are harmless.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Step {
        match self.state {
            State::Handshaking { deadline, .. } if now >= deadline => {
                self.state = State::Ended;
                Step::TimedOut
            }
            State::Handshaking { retransmit_at, .. } if now >= retransmit_at => self.drive(now, Trigger::Timer),
            _ => Step::Pending,
        }
    }

    /// Reads the next application datagram into `buf` (established sessions only).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Received {
        if !self.is_established() {
            return Received::Empty;
        }
        let result = self.stream.ssl_read(buf);
        match result {
            Ok(n) => Received::Data(n),
            Err(e) if e.code() == ErrorCode::WANT_READ => {
                self.stream.get_mut().has_inbound = false;
                Received::Empty
            }
            Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                // Answer the peer's close_notify with ours (RFC 5246 §7.2.1).
                let _ = self.stream.shutdown();
                self.state = State::Ended;
                Received::PeerClosed
            }
            Err(e) => {
                self.state = State::Ended;
                Received::Failed(describe(&e))
            }
        }
    }

    /// Encrypts one application datagram.
    pub(crate) fn write(&mut self, now: Instant, plaintext: &[u8]) -> Result<(), String> {
        if !self.is_established() {
            return Err("session is not established".to_string());
        }
        self.last_active_at = now;
        match self.stream.ssl_write(plaintext) {
            Ok(n) if n == plaintext.len() => Ok(()),
            Ok(n) => Err(format!("openssl wrote {n} of {} bytes", plaintext.len())),
            Err(e) => {
                self.state = State::Ended;
                Err(describe(&e))
            }
        }
    }

    /// Sends close_notify (if the session got far enough to have one) and ends the session.
    pub(crate) fn close(&mut self) {
        if self.is_established() {
            let _ = self.stream.shutdown();
        }
        self.state = State::Ended;
    }

    /// Hands out the queued records packed into datagrams of at most the MTU.
    pub(crate) fn drain(&mut self, mut out: impl FnMut(Vec<u8>)) {
        let mtu = self.mtu;
        let pipe = self.stream.get_mut();
        let mut current: Option<Vec<u8>> = None;
        while let Some(record) = pipe.outbound.pop_front() {
            match current.as_mut() {
                Some(datagram) if datagram.len() + record.len() <= mtu => datagram.extend_from_slice(&record),
                _ => {
                    if let Some(full) = current.replace(record) {
                        out(full);
                    }
                }
            }
        }
        if let Some(last) = current {
            out(last);
        }
    }
}
