//! The Bootstrap-Server engine: sessions that push a [`BootstrapConfig`] into clients
//! (LwM2M Core TS §6.1, notes §2.1; identity binding T12 §5.2, notes §6.1).
//!
//! A session starts with a client's `POST /bs?ep=…[&pct=…]` (answered 2.04 before anything is
//! sent) or with [`BootstrapServer::start_session`] for a 1.0 client known to listen at an
//! address. The engine then sends the configuration's requests one at a time, in order
//! ([`BootstrapConfig::operations`], preceded by a Bootstrap-Discover of `/0` when the
//! configuration asks for automatic security IDs), stops at the first answer that is not the
//! expected success code or after `request_timeout` without answer, and ends with
//! Bootstrap-Finish. Operator commands (Discover, Read, Write, Delete) go to a client in session
//! ahead of the remaining plan and come back as [`BootstrapEvent::CommandCompleted`].
//! Sessions, queued commands and events are bounded; every wire answer to a rejected
//! Bootstrap-Request is chosen by `impl From<&RejectReason> for Code`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{
    Code, ContentFormat, Endpoint, EndpointConfig, Engine, Event, ExchangeError, OptionNumber, Peer, Reliability,
    Request, Response, SendError, Token, Transmit,
};
use lwm2m::format::link::{self, Link};
use lwm2m::format::{self, FormatError, Record};
use lwm2m::model::Registry;
use lwm2m::register::EndpointName;
use lwm2m::{Path, PrefixedPath};

use super::config::{BootstrapConfig, BootstrapOperation, ConfigError, WRITE_FORMATS};
use super::store::ConfigStore;

/// Most operator commands queued per session.
pub const MAX_QUEUED_COMMANDS: usize = 16;

/// Parameters of a [`BootstrapServer`].
#[derive(Debug, Clone)]
pub struct BootstrapServerConfig {
    /// The CoAP endpoint's parameters.
    pub endpoint: Arc<EndpointConfig>,
    /// How long one bootstrap request may wait for its answer before the session fails.
    pub request_timeout: Duration,
    /// Most sessions at once; a Bootstrap-Request beyond is answered 5.03.
    pub max_sessions: usize,
    /// How long a session with nothing in flight and nothing queued (an operator session
    /// waiting for commands) is kept before it fails with [`SessionFailure::Idle`].
    pub session_idle_timeout: Duration,
    /// Most configurations in the store.
    pub max_configs: usize,
    /// Most events waiting for `poll_event`; the oldest is dropped beyond (and counted).
    pub max_events: usize,
    /// Object models, for TLV and for typing values.
    pub registry: Arc<Registry>,
}

impl Default for BootstrapServerConfig {
    fn default() -> Self {
        Self {
            endpoint: Arc::new(EndpointConfig::default()),
            request_timeout: Duration::from_secs(93),
            max_sessions: 64,
            session_idle_timeout: Duration::from_secs(247),
            max_configs: 10_000,
            max_events: 4096,
            registry: Arc::new(Registry::bundled()),
        }
    }
}

/// How a session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrigin {
    /// The client sent a Bootstrap-Request.
    ClientInitiated,
    /// The operator started it ([`BootstrapServer::start_session`] or [`BootstrapServer::open_session`]).
    ServerInitiated,
}

/// Handle of an operator command, returned with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u64);

/// What the application learns through [`BootstrapServer::poll_event`].
#[derive(Debug, Clone, PartialEq)]
pub enum BootstrapEvent {
    /// A session began; requests follow.
    SessionStarted {
        /// The client.
        endpoint: EndpointName,
        /// Where it is.
        peer: Peer,
        /// Who began it.
        origin: SessionOrigin,
    },
    /// The client accepted Bootstrap-Finish.
    SessionFinished {
        /// The client.
        endpoint: EndpointName,
    },
    /// The session ended without Bootstrap-Finish being accepted.
    SessionFailed {
        /// The client.
        endpoint: EndpointName,
        /// Which request failed and how.
        reason: SessionFailure,
    },
    /// An operator command ended.
    CommandCompleted {
        /// The client.
        endpoint: EndpointName,
        /// The handle the command returned.
        command: CommandId,
        /// Its outcome.
        result: Result<CommandOutcome, CommandFailure>,
    },
    /// A Bootstrap-Request was refused (already answered with `reason`'s code).
    RequestRejected {
        /// Who sent it.
        peer: Peer,
        /// Why.
        reason: RejectReason,
    },
}

/// Why a session failed. Messages name the request (`Bootstrap-Write /0/1`) and its position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionFailure {
    /// The client answered a request with another code than its success code.
    #[error("{operation} (request {step}) was answered {code}")]
    Rejected {
        /// 1-based position of the request in the session.
        step: usize,
        /// The request (`Bootstrap-Write /0/1`).
        operation: String,
        /// The client's code.
        code: Code,
    },
    /// No answer within the request timeout.
    #[error("{operation} (request {step}) got no answer in time")]
    Timeout {
        /// 1-based position of the request in the session.
        step: usize,
        /// The request.
        operation: String,
    },
    /// The exchange ended otherwise (reset, block-wise failure).
    #[error("{operation} (request {step}) failed")]
    Exchange {
        /// 1-based position of the request in the session.
        step: usize,
        /// The request.
        operation: String,
        /// Why the exchange ended.
        #[source]
        error: ExchangeError,
    },
    /// The request's payload could not be encoded in the session's content format.
    #[error("{operation} cannot be encoded")]
    Encoding {
        /// The request.
        operation: String,
        /// The encoder's complaint.
        #[source]
        source: FormatError,
    },
    /// The CoAP endpoint refused the request.
    #[error("{operation} cannot be sent")]
    Send {
        /// The request.
        operation: String,
        /// The endpoint's complaint.
        #[source]
        source: SendError,
    },
    /// The Bootstrap-Discover answer cannot be read.
    #[error("the bootstrap-discover answer is unusable")]
    BadDiscover(#[source] FormatError),
    /// The configuration cannot be turned into requests.
    #[error("the configuration cannot be applied")]
    Config(#[source] ConfigError),
    /// A new session of the same endpoint (a new Bootstrap-Request, or the operator) replaced it.
    #[error("a new session of the same endpoint replaced this one")]
    Superseded,
    /// Nothing was sent or queued for longer than the idle timeout.
    #[error("the session stayed idle too long")]
    Idle,
    /// The operator cancelled the session.
    #[error("the operator cancelled the session")]
    Cancelled,
}

/// The result of an operator command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// Bootstrap-Discover: the client's links.
    Discovered(Vec<Link>),
    /// Bootstrap-Read: the values read.
    Read(Vec<Record>),
    /// Bootstrap-Write accepted (2.04).
    Written,
    /// Bootstrap-Delete accepted (2.02).
    Deleted,
}

/// Why an operator command failed after it was accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandFailure {
    /// The client answered with another code than the success code.
    #[error("the client answered {0}")]
    Rejected(Code),
    /// No answer in time.
    #[error("no answer from the client in time")]
    Timeout,
    /// The exchange ended otherwise.
    #[error("the exchange failed")]
    Exchange(#[source] ExchangeError),
    /// The payload could not be encoded.
    #[error("the payload cannot be encoded")]
    Encoding(#[source] FormatError),
    /// The CoAP endpoint refused the request.
    #[error("the request cannot be sent")]
    Send(#[source] SendError),
    /// The client's answer cannot be decoded.
    #[error("the client's answer cannot be decoded")]
    Malformed(#[source] FormatError),
    /// The session ended before the command was sent or answered.
    #[error("the session ended before the command completed")]
    SessionEnded,
}

/// Why an operator command was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No configuration is stored for the endpoint.
    #[error("no bootstrap configuration for {0}")]
    NoConfig(EndpointName),
    /// The endpoint has no session.
    #[error("{0} has no bootstrap session")]
    NoSession(EndpointName),
    /// The session limit is reached.
    #[error("already {limit} bootstrap sessions")]
    TooManySessions {
        /// The limit.
        limit: usize,
    },
    /// The session already queues the most commands.
    #[error("{endpoint} already queues {MAX_QUEUED_COMMANDS} commands")]
    QueueFull {
        /// The client.
        endpoint: EndpointName,
    },
    /// The path is not allowed for that bootstrap operation.
    #[error("{operation} cannot target {path}")]
    BadPath {
        /// The operation.
        operation: &'static str,
        /// The path.
        path: Path,
    },
    /// The path names the client's bootstrap account, which is never deleted.
    #[error("{0} is the bootstrap account and is never deleted")]
    BootstrapAccount(Path),
    /// The content format cannot carry a Bootstrap-Write.
    #[error("content format {0} is not usable for bootstrap writes")]
    UnsupportedContentFormat(u16),
    /// The configuration cannot be turned into requests.
    #[error("the configuration cannot be applied")]
    Config(#[source] ConfigError),
}

/// Why a Bootstrap-Request was refused; the wire code comes from `Code::from(&reason)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// No `ep=` parameter.
    #[error("bootstrap-request without ep")]
    MissingEndpoint,
    /// `ep=` is not a valid endpoint name.
    #[error("bootstrap-request with an invalid ep")]
    InvalidEndpoint,
    /// No configuration for that endpoint.
    #[error("no bootstrap configuration for {0}")]
    UnknownEndpoint(EndpointName),
    /// The authenticated identity does not match the one configured for the endpoint.
    #[error("{endpoint} authenticated as {identity:?}, not as its configured identity")]
    IdentityMismatch {
        /// The endpoint claimed.
        endpoint: EndpointName,
        /// The identity the peer authenticated with.
        identity: Option<String>,
    },
    /// `pct=` is not a number.
    #[error("bootstrap-request with an invalid pct")]
    InvalidPct,
    /// `pct=` names a format the server cannot write.
    #[error("preferred content format {0} is not supported")]
    UnsupportedPct(u16),
    /// The session limit is reached.
    #[error("already {limit} bootstrap sessions")]
    TooManySessions {
        /// The limit.
        limit: usize,
    },
    /// The stored configuration cannot be applied.
    #[error("configuration of {endpoint} cannot be applied")]
    InvalidConfig {
        /// The endpoint.
        endpoint: EndpointName,
        /// What is wrong.
        #[source]
        source: ConfigError,
    },
}

impl From<&RejectReason> for Code {
    fn from(reason: &RejectReason) -> Self {
        match reason {
            RejectReason::MissingEndpoint
            | RejectReason::InvalidEndpoint
            | RejectReason::UnknownEndpoint(_)
            | RejectReason::IdentityMismatch { .. }
            | RejectReason::InvalidPct => Self::BAD_REQUEST,
            RejectReason::UnsupportedPct(_) => Self::UNSUPPORTED_CONTENT_FORMAT,
            RejectReason::TooManySessions { .. } => Self::SERVICE_UNAVAILABLE,
            RejectReason::InvalidConfig { .. } => Self::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Who asked for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A step of the configuration plan (or Finish).
    Plan,
    /// The Bootstrap-Discover that finds the bootstrap account for automatic IDs.
    AutoId,
    /// An operator command.
    Command(CommandId),
}

#[derive(Debug)]
struct InFlight {
    token: Token,
    operation: BootstrapOperation,
    purpose: Purpose,
    deadline: Instant,
    step: usize,
}

/// Where a session's own requests stand; operator commands go ahead of them in every stage.
#[derive(Debug)]
enum Stage {
    /// Automatic security IDs: the Bootstrap-Discover of `/0` is due or in flight.
    Discovering(Discovering),
    /// Sending the configuration's requests in order; the last one is Bootstrap-Finish.
    Pushing(Pushing),
    /// Operator session: commands only, until [`BootstrapServer::finish_session`].
    Manual,
}

/// The configuration to expand once the client's bootstrap account is known.
#[derive(Debug)]
struct Discovering {
    config: BootstrapConfig,
    sent: bool,
}

/// The requests still to send.
#[derive(Debug)]
struct Pushing {
    plan: VecDeque<BootstrapOperation>,
}

impl Stage {
    /// The next request of the session's own sequence, if one is due now.
    fn next(&mut self) -> Option<(BootstrapOperation, Purpose)> {
        match self {
            Self::Discovering(d) if !d.sent => {
                d.sent = true;
                Some((BootstrapOperation::Discover(Path::Object(0)), Purpose::AutoId))
            }
            Self::Discovering(_) | Self::Manual => None,
            Self::Pushing(p) => p.plan.pop_front().map(|op| (op, Purpose::Plan)),
        }
    }
}

#[derive(Debug)]
struct Session {
    peer: Peer,
    content_format: ContentFormat,
    /// Where the session's own requests stand.
    stage: Stage,
    /// Operator commands, served before the plan.
    commands: VecDeque<(CommandId, BootstrapOperation)>,
    in_flight: Option<InFlight>,
    /// Requests sent so far.
    sent: usize,
    /// The client's bootstrap-account instance of `/0`, when known.
    bootstrap_instance: Option<u16>,
    /// When the session fails if it is still idle (nothing in flight, nothing queued).
    idle_deadline: Instant,
}

impl Session {
    /// When this session next needs `handle_timeout`: its request's deadline, or its idle deadline.
    fn deadline(&self) -> Instant {
        self.in_flight.as_ref().map_or(self.idle_deadline, |f| f.deadline)
    }
}

/// The LwM2M Bootstrap-Server engine over one CoAP endpoint.
#[derive(Debug)]
pub struct BootstrapServer {
    endpoint: Endpoint,
    config: BootstrapServerConfig,
    store: ConfigStore,
    sessions: BTreeMap<EndpointName, Session>,
    tokens: BTreeMap<Token, EndpointName>,
    events: VecDeque<BootstrapEvent>,
    next_command: u64,
    dropped_events: u64,
}

impl BootstrapServer {
    /// A server with `config` and an empty configuration store; `rng_seed` feeds the endpoint.
    pub fn new(config: BootstrapServerConfig, rng_seed: [u8; 32]) -> Self {
        Self {
            endpoint: Endpoint::new(config.endpoint.clone(), rng_seed),
            store: ConfigStore::new(config.max_configs),
            config,
            sessions: BTreeMap::new(),
            tokens: BTreeMap::new(),
            events: VecDeque::new(),
            next_command: 0,
            dropped_events: 0,
        }
    }

    /// The configuration store.
    pub fn configs(&self) -> &ConfigStore {
        &self.store
    }

    /// The configuration store, to add, replace or remove configurations. A running session
    /// keeps the configuration it started with.
    pub fn configs_mut(&mut self) -> &mut ConfigStore {
        &mut self.store
    }

    /// The CoAP endpoint (for its statistics).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Endpoints in session, with their peers.
    pub fn sessions(&self) -> impl Iterator<Item = (&EndpointName, &Peer)> + '_ {
        self.sessions.iter().map(|(ep, s)| (ep, &s.peer))
    }

    /// Whether `endpoint` is in session.
    pub fn has_session(&self, endpoint: &EndpointName) -> bool {
        self.sessions.contains_key(endpoint)
    }

    /// Events dropped because nobody polled them.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<BootstrapEvent> {
        self.events.pop_front()
    }

    /// Whether an event is waiting.
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Server-initiated bootstrap (1.0): pushes the stored configuration of `endpoint` to a
    /// client listening at `peer`, without a Bootstrap-Request, writing TLV unless the
    /// configuration names a format. Replaces any session of that endpoint.
    pub fn start_session(&mut self, now: Instant, endpoint: &EndpointName, peer: Peer) -> Result<(), CommandError> {
        let config = self.store.get(endpoint).cloned().ok_or_else(|| CommandError::NoConfig(endpoint.clone()))?;
        self.check_room(endpoint).map_err(|limit| CommandError::TooManySessions { limit })?;
        let content_format = config.content_format.unwrap_or(ContentFormat::TLV);
        let idle_deadline = now + self.config.session_idle_timeout;
        let session = new_session(peer.clone(), content_format, config, idle_deadline).map_err(CommandError::Config)?;
        self.begin(now, endpoint.clone(), session, SessionOrigin::ServerInitiated);
        Ok(())
    }

    /// Opens a session with no plan: only operator commands are sent, until
    /// [`Self::finish_session`]. `content_format` is used for writes and reads.
    pub fn open_session(
        &mut self,
        now: Instant,
        endpoint: &EndpointName,
        peer: Peer,
        content_format: ContentFormat,
    ) -> Result<(), CommandError> {
        if !WRITE_FORMATS.contains(&content_format) {
            return Err(CommandError::UnsupportedContentFormat(content_format.0));
        }
        self.check_room(endpoint).map_err(|limit| CommandError::TooManySessions { limit })?;
        let session = Session {
            peer,
            content_format,
            stage: Stage::Manual,
            commands: VecDeque::new(),
            in_flight: None,
            sent: 0,
            bootstrap_instance: None,
            idle_deadline: now + self.config.session_idle_timeout,
        };
        self.begin(now, endpoint.clone(), session, SessionOrigin::ServerInitiated);
        Ok(())
    }

    /// Sends Bootstrap-Finish once everything queued is done (no effect when a plan already
    /// ends with it).
    pub fn finish_session(&mut self, now: Instant, endpoint: &EndpointName) -> Result<(), CommandError> {
        let session = self.sessions.get_mut(endpoint).ok_or_else(|| CommandError::NoSession(endpoint.clone()))?;
        // A configuration plan (being discovered or pushed) already ends with Finish.
        if matches!(session.stage, Stage::Manual) {
            session.stage = Stage::Pushing(Pushing { plan: VecDeque::from([BootstrapOperation::Finish]) });
        }
        self.advance(now, endpoint);
        Ok(())
    }

    /// Ends the session of `endpoint` now ([`SessionFailure::Cancelled`]).
    pub fn cancel_session(&mut self, endpoint: &EndpointName) -> Result<(), CommandError> {
        if !self.sessions.contains_key(endpoint) {
            return Err(CommandError::NoSession(endpoint.clone()));
        }
        self.fail(endpoint, SessionFailure::Cancelled);
        Ok(())
    }

    /// Bootstrap-Discover of `/` or `/o`.
    pub fn discover(&mut self, now: Instant, endpoint: &EndpointName, path: Path) -> Result<CommandId, CommandError> {
        if !matches!(path, Path::Root | Path::Object(_)) {
            return Err(CommandError::BadPath { operation: "Bootstrap-Discover", path });
        }
        self.command(now, endpoint, BootstrapOperation::Discover(path))
    }

    /// Bootstrap-Read (1.1) of `/1`, `/1/i`, `/2` or `/2/i`.
    pub fn read(&mut self, now: Instant, endpoint: &EndpointName, path: Path) -> Result<CommandId, CommandError> {
        if !matches!(path, Path::Object(1 | 2) | Path::Instance(1 | 2, _)) {
            return Err(CommandError::BadPath { operation: "Bootstrap-Read", path });
        }
        self.command(now, endpoint, BootstrapOperation::Read(path))
    }

    /// Bootstrap-Write of `records` to `/o`, `/o/i` or `/o/i/r`.
    pub fn write(
        &mut self,
        now: Instant,
        endpoint: &EndpointName,
        path: Path,
        records: Vec<Record>,
    ) -> Result<CommandId, CommandError> {
        if matches!(path, Path::Root | Path::ResourceInstance(..)) {
            return Err(CommandError::BadPath { operation: "Bootstrap-Write", path });
        }
        self.command(now, endpoint, BootstrapOperation::Write(path, records))
    }

    /// Bootstrap-Delete of `/`, `/o` or `/o/i`; never the client's bootstrap account.
    pub fn delete(&mut self, now: Instant, endpoint: &EndpointName, path: Path) -> Result<CommandId, CommandError> {
        if matches!(path, Path::Resource(..) | Path::ResourceInstance(..)) {
            return Err(CommandError::BadPath { operation: "Bootstrap-Delete", path });
        }
        let protected = self.sessions.get(endpoint).and_then(|s| s.bootstrap_instance);
        if let (Path::Instance(0, i), Some(b)) = (path, protected) {
            if i == b {
                return Err(CommandError::BootstrapAccount(path));
            }
        }
        self.command(now, endpoint, BootstrapOperation::Delete(path))
    }

    fn command(
        &mut self,
        now: Instant,
        endpoint: &EndpointName,
        operation: BootstrapOperation,
    ) -> Result<CommandId, CommandError> {
        let session = self.sessions.get_mut(endpoint).ok_or_else(|| CommandError::NoSession(endpoint.clone()))?;
        if session.commands.len() >= MAX_QUEUED_COMMANDS {
            return Err(CommandError::QueueFull { endpoint: endpoint.clone() });
        }
        let id = CommandId(self.next_command);
        self.next_command += 1;
        session.commands.push_back((id, operation));
        self.advance(now, endpoint);
        Ok(id)
    }

    /// `Err(limit)` when a new session for `endpoint` would exceed the limit.
    fn check_room(&self, endpoint: &EndpointName) -> Result<(), usize> {
        let limit = self.config.max_sessions;
        if !self.sessions.contains_key(endpoint) && self.sessions.len() >= limit {
            return Err(limit);
        }
        Ok(())
    }

    fn begin(&mut self, now: Instant, endpoint: EndpointName, session: Session, origin: SessionOrigin) {
        if self.sessions.contains_key(&endpoint) {
            self.fail(&endpoint, SessionFailure::Superseded);
        }
        let peer = session.peer.clone();
        self.sessions.insert(endpoint.clone(), session);
        self.push_event(BootstrapEvent::SessionStarted { endpoint: endpoint.clone(), peer, origin });
        self.advance(now, &endpoint);
    }

    fn push_event(&mut self, event: BootstrapEvent) {
        if self.events.len() >= self.config.max_events.max(1) {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
    }

    /// Sends the next request of `endpoint`'s session if none is in flight.
    fn advance(&mut self, now: Instant, endpoint: &EndpointName) {
        loop {
            let Some(session) = self.sessions.get_mut(endpoint) else { return };
            if session.in_flight.is_some() {
                return;
            }
            let (operation, purpose) = if let Some((id, op)) = session.commands.pop_front() {
                (op, Purpose::Command(id))
            } else if let Some(next) = session.stage.next() {
                next
            } else {
                session.idle_deadline = now + self.config.session_idle_timeout;
                return;
            };
            let request = match build_request(&operation, session.content_format, &self.config.registry) {
                Ok(request) => request,
                Err(source) => match purpose {
                    Purpose::Command(command) => {
                        let result = Err(CommandFailure::Encoding(source));
                        self.push_event(BootstrapEvent::CommandCompleted {
                            endpoint: endpoint.clone(),
                            command,
                            result,
                        });
                        continue;
                    }
                    Purpose::Plan | Purpose::AutoId => {
                        let operation = operation.to_string();
                        self.fail(endpoint, SessionFailure::Encoding { operation, source });
                        return;
                    }
                },
            };
            let peer = session.peer.clone();
            match self.endpoint.send_request(now, peer, request, Reliability::Confirmable) {
                Ok(token) => {
                    let Some(session) = self.sessions.get_mut(endpoint) else { return };
                    session.sent += 1;
                    let deadline = now + self.config.request_timeout;
                    let step = session.sent;
                    tracing::debug!(%endpoint, step, %operation, "bootstrap request sent");
                    session.in_flight = Some(InFlight { token, operation, purpose, deadline, step });
                    self.tokens.insert(token, endpoint.clone());
                    return;
                }
                Err(source) => match purpose {
                    Purpose::Command(command) => {
                        let result = Err(CommandFailure::Send(source));
                        self.push_event(BootstrapEvent::CommandCompleted {
                            endpoint: endpoint.clone(),
                            command,
                            result,
                        });
                    }
                    Purpose::Plan | Purpose::AutoId => {
                        let operation = operation.to_string();
                        self.fail(endpoint, SessionFailure::Send { operation, source });
                        return;
                    }
                },
            }
        }
    }

    /// Ends the session with `reason`; its queued commands end with `SessionEnded`.
    fn fail(&mut self, endpoint: &EndpointName, reason: SessionFailure) {
        let Some(mut session) = self.sessions.remove(endpoint) else { return };
        tracing::info!(%endpoint, %reason, "bootstrap session failed");
        let mut ended: Vec<CommandId> = Vec::new();
        if let Some(flight) = session.in_flight.take() {
            self.endpoint.cancel(flight.token);
            self.tokens.remove(&flight.token);
            if let Purpose::Command(id) = flight.purpose {
                ended.push(id);
            }
        }
        ended.extend(session.commands.drain(..).map(|(id, _)| id));
        for command in ended {
            let result = Err(CommandFailure::SessionEnded);
            self.push_event(BootstrapEvent::CommandCompleted { endpoint: endpoint.clone(), command, result });
        }
        self.push_event(BootstrapEvent::SessionFailed { endpoint: endpoint.clone(), reason });
    }

    /// Processes the endpoint's events.
    fn process(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request { peer, token, request, .. } => self.handle_request(now, peer, token, &request),
                Event::Response { token, response } | Event::Notification { token, response } => {
                    self.handle_answer(now, token, Ok(response));
                }
                Event::Failed { token, error } => self.handle_answer(now, token, Err(error)),
                Event::Pong { .. } | Event::ObservationCancelled { .. } => {}
            }
        }
    }

    fn respond(&mut self, now: Instant, peer: &Peer, token: Token, code: Code) {
        if let Err(error) = self.endpoint.send_response(now, peer, token, Response::new(code)) {
            tracing::debug!(%error, "bootstrap response not sent");
        }
    }

    fn handle_request(&mut self, now: Instant, peer: Peer, token: Token, request: &Request) {
        let path = request.options.uri_path();
        let code = match (path.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), request.method) {
            (["bs"], Code::POST) => match self.bootstrap_request(now, request, &peer) {
                Ok((endpoint, session)) => {
                    self.respond(now, &peer, token, Code::CHANGED);
                    self.begin(now, endpoint, session, SessionOrigin::ClientInitiated);
                    return;
                }
                Err(reason) => {
                    let code = Code::from(&reason);
                    tracing::info!(%reason, %code, "bootstrap-request refused");
                    self.respond(now, &peer, token, code);
                    self.push_event(BootstrapEvent::RequestRejected { peer, reason });
                    return;
                }
            },
            (["bs"], _) => Code::METHOD_NOT_ALLOWED,
            // Bootstrap-Pack-Request (1.2) is not implemented: the client falls back.
            (["bspack"], _) => Code::NOT_IMPLEMENTED,
            _ => Code::NOT_FOUND,
        };
        self.respond(now, &peer, token, code);
    }

    /// Checks a Bootstrap-Request and builds its session.
    fn bootstrap_request(
        &self,
        now: Instant,
        request: &Request,
        peer: &Peer,
    ) -> Result<(EndpointName, Session), RejectReason> {
        let query = request.options.uri_query();
        let ep = query.iter().find_map(|q| q.strip_prefix("ep=")).ok_or(RejectReason::MissingEndpoint)?;
        let endpoint = EndpointName::new(ep).map_err(|_| RejectReason::InvalidEndpoint)?;
        let pct = match query.iter().find_map(|q| q.strip_prefix("pct=")) {
            None => None,
            Some(text) => {
                let code: u16 = text.parse().map_err(|_| RejectReason::InvalidPct)?;
                let cf = ContentFormat(code);
                if !WRITE_FORMATS.contains(&cf) {
                    return Err(RejectReason::UnsupportedPct(code));
                }
                Some(cf)
            }
        };
        let config = self.store.get(&endpoint).ok_or_else(|| RejectReason::UnknownEndpoint(endpoint.clone()))?;
        if !identity_matches(config, &endpoint, peer) {
            return Err(RejectReason::IdentityMismatch { endpoint, identity: peer.identity.clone() });
        }
        if self.check_room(&endpoint).is_err() {
            return Err(RejectReason::TooManySessions { limit: self.config.max_sessions });
        }
        let content_format = config.content_format.or(pct).unwrap_or(ContentFormat::TLV);
        let idle_deadline = now + self.config.session_idle_timeout;
        let session = new_session(peer.clone(), content_format, config.clone(), idle_deadline)
            .map_err(|source| RejectReason::InvalidConfig { endpoint: endpoint.clone(), source })?;
        Ok((endpoint, session))
    }

    /// The answer (or failure) of one of our requests.
    fn handle_answer(&mut self, now: Instant, token: Token, answer: Result<Response, ExchangeError>) {
        let Some(endpoint) = self.tokens.remove(&token) else { return };
        let Some(session) = self.sessions.get_mut(&endpoint) else { return };
        let Some(flight) = session.in_flight.take_if(|f| f.token == token) else { return };
        let answer = answer.map_err(|error| match error {
            ExchangeError::Timeout => Failure::Timeout,
            other => Failure::Exchange(other),
        });
        self.conclude(now, &endpoint, flight, answer);
    }

    fn conclude(&mut self, now: Instant, endpoint: &EndpointName, flight: InFlight, answer: Result<Response, Failure>) {
        let expected = success_code(&flight.operation);
        let operation = flight.operation.to_string();
        let step = flight.step;
        match flight.purpose {
            Purpose::Command(command) => {
                let result = match answer {
                    Ok(response) if response.code == expected => self.outcome(endpoint, &flight.operation, &response),
                    Ok(response) => Err(CommandFailure::Rejected(response.code)),
                    Err(Failure::Timeout) => Err(CommandFailure::Timeout),
                    Err(Failure::Exchange(error)) => Err(CommandFailure::Exchange(error)),
                };
                if let (
                    Ok(CommandOutcome::Discovered(links)),
                    BootstrapOperation::Discover(Path::Root | Path::Object(0)),
                ) = (&result, &flight.operation)
                {
                    if let (Some(found), Some(session)) = (bootstrap_instance(links), self.sessions.get_mut(endpoint)) {
                        session.bootstrap_instance = Some(found);
                    }
                }
                self.push_event(BootstrapEvent::CommandCompleted { endpoint: endpoint.clone(), command, result });
            }
            Purpose::Plan | Purpose::AutoId => {
                let response = match answer {
                    Ok(response) if response.code == expected => response,
                    Ok(response) => {
                        return self.fail(endpoint, SessionFailure::Rejected { step, operation, code: response.code })
                    }
                    Err(Failure::Timeout) => return self.fail(endpoint, SessionFailure::Timeout { step, operation }),
                    Err(Failure::Exchange(error)) => {
                        return self.fail(endpoint, SessionFailure::Exchange { step, operation, error })
                    }
                };
                if flight.operation == BootstrapOperation::Finish {
                    self.finished(endpoint);
                    return;
                }
                if flight.purpose == Purpose::AutoId {
                    if let Err(reason) = self.expand_plan(endpoint, &response.payload) {
                        return self.fail(endpoint, reason);
                    }
                }
            }
        }
        self.advance(now, endpoint);
    }

    fn finished(&mut self, endpoint: &EndpointName) {
        let Some(mut session) = self.sessions.remove(endpoint) else { return };
        tracing::info!(%endpoint, requests = session.sent, "bootstrap session finished");
        for (command, _) in session.commands.drain(..) {
            let result = Err(CommandFailure::SessionEnded);
            self.push_event(BootstrapEvent::CommandCompleted { endpoint: endpoint.clone(), command, result });
        }
        self.push_event(BootstrapEvent::SessionFinished { endpoint: endpoint.clone() });
    }

    /// Reads the auto-ID Bootstrap-Discover answer and expands the configuration into the plan.
    fn expand_plan(&mut self, endpoint: &EndpointName, payload: &[u8]) -> Result<(), SessionFailure> {
        let links = link::decode(payload).map_err(SessionFailure::BadDiscover)?;
        let bootstrap_instance = bootstrap_instance(&links);
        let Some(session) = self.sessions.get_mut(endpoint) else { return Ok(()) };
        let Stage::Discovering(Discovering { config, .. }) = &session.stage else { return Ok(()) };
        let operations = config.operations(bootstrap_instance).map_err(SessionFailure::Config)?;
        session.bootstrap_instance = bootstrap_instance.or(session.bootstrap_instance);
        session.stage = Stage::Pushing(Pushing { plan: operations.into() });
        Ok(())
    }

    /// The typed outcome of a successful operator command.
    fn outcome(
        &self,
        endpoint: &EndpointName,
        operation: &BootstrapOperation,
        response: &Response,
    ) -> Result<CommandOutcome, CommandFailure> {
        match operation {
            BootstrapOperation::Discover(_) => {
                link::decode(&response.payload).map(CommandOutcome::Discovered).map_err(CommandFailure::Malformed)
            }
            BootstrapOperation::Read(path) => {
                let session_format = self.sessions.get(endpoint).map_or(ContentFormat::TLV, |s| s.content_format);
                let cf = response.options.content_format().unwrap_or(session_format);
                format::decode(cf, &response.payload, &PrefixedPath::plain(*path), &self.config.registry)
                    .map(CommandOutcome::Read)
                    .map_err(CommandFailure::Malformed)
            }
            BootstrapOperation::Write(..) => Ok(CommandOutcome::Written),
            BootstrapOperation::Delete(_) | BootstrapOperation::Finish => Ok(CommandOutcome::Deleted),
        }
    }

    /// Fails the requests whose own deadline passed, and the sessions idle for too long.
    fn expire(&mut self, now: Instant) {
        let due: Vec<EndpointName> =
            self.sessions.iter().filter(|(_, s)| s.deadline() <= now).map(|(ep, _)| ep.clone()).collect();
        for endpoint in due {
            let Some(session) = self.sessions.get_mut(&endpoint) else { continue };
            let Some(flight) = session.in_flight.take() else {
                self.fail(&endpoint, SessionFailure::Idle);
                continue;
            };
            self.endpoint.cancel(flight.token);
            self.tokens.remove(&flight.token);
            self.conclude(now, &endpoint, flight, Err(Failure::Timeout));
        }
    }
}

/// How an exchange ended without an answer.
#[derive(Debug)]
enum Failure {
    Timeout,
    Exchange(ExchangeError),
}

impl Engine for BootstrapServer {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, peer, datagram);
        self.process(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.process(now);
        self.expire(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.endpoint.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let ours = self.sessions.values().map(Session::deadline).min();
        match (self.endpoint.poll_timeout(), ours) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A session that pushes `config`: a Bootstrap-Discover of `/0` first when it wants automatic
/// security IDs, else its operations straight away.
fn new_session(
    peer: Peer,
    content_format: ContentFormat,
    config: BootstrapConfig,
    idle_deadline: Instant,
) -> Result<Session, ConfigError> {
    let configured_bootstrap = config.bootstrap_account().map(|(i, _)| i);
    let (stage, bootstrap_instance) = if config.auto_id_for_security_object {
        config.validate()?;
        (Stage::Discovering(Discovering { config, sent: false }), None)
    } else {
        (Stage::Pushing(Pushing { plan: config.operations(None)?.into() }), configured_bootstrap)
    };
    Ok(Session {
        peer,
        content_format,
        stage,
        commands: VecDeque::new(),
        in_flight: None,
        sent: 0,
        bootstrap_instance,
        idle_deadline,
    })
}

/// Whether `peer` may bootstrap as `endpoint`: with a PSK bootstrap account configured, it must
/// have authenticated with that identity; otherwise it must be unauthenticated or carry the
/// endpoint name as its identity (certificate CN).
fn identity_matches(config: &BootstrapConfig, endpoint: &EndpointName, peer: &Peer) -> bool {
    match (config.bootstrap_psk_identity(), peer.identity.as_deref()) {
        (Some(expected), Some(actual)) => expected == actual.as_bytes(),
        (Some(_), None) => false,
        (None, None) => true,
        (None, Some(actual)) => actual == endpoint.as_str(),
    }
}

/// The CoAP request of one bootstrap operation.
fn build_request(
    operation: &BootstrapOperation,
    content_format: ContentFormat,
    registry: &Registry,
) -> Result<Request, FormatError> {
    let accept = |cf: ContentFormat| coap::msg::encode_uint(u32::from(cf.0));
    Ok(match operation {
        BootstrapOperation::Discover(path) => {
            Request::get(&path.to_string()).with_option(OptionNumber::ACCEPT, accept(ContentFormat::LINK_FORMAT))
        }
        BootstrapOperation::Read(path) => {
            Request::get(&path.to_string()).with_option(OptionNumber::ACCEPT, accept(content_format))
        }
        BootstrapOperation::Write(path, records) => {
            let payload = format::encode(content_format, records, &PrefixedPath::plain(*path), registry)?;
            Request::put(&path.to_string()).with_payload(content_format, payload)
        }
        BootstrapOperation::Delete(path) => Request::delete(&path.to_string()),
        BootstrapOperation::Finish => Request::post("/bs"),
    })
}

/// The success code each bootstrap operation expects.
fn success_code(operation: &BootstrapOperation) -> Code {
    match operation {
        BootstrapOperation::Discover(_) | BootstrapOperation::Read(_) => Code::CONTENT,
        BootstrapOperation::Write(..) | BootstrapOperation::Finish => Code::CHANGED,
        BootstrapOperation::Delete(_) => Code::DELETED,
    }
}

/// The bootstrap account's `/0` instance in a Bootstrap-Discover answer: the `/0/i` link that
/// carries neither `ssid` nor `uri` (Core TS §6.1.7.3, notes §2.1).
fn bootstrap_instance(links: &[Link]) -> Option<u16> {
    links.iter().find_map(|l| {
        let path: PrefixedPath = l.uri.parse().ok()?;
        match (path.prefix, path.path) {
            (None, Path::Instance(0, i)) if l.attribute("ssid").is_none() && l.attribute("uri").is_none() => Some(i),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_answer_names_the_instance_without_ssid_as_bootstrap_account() {
        let links =
            link::parse(r#"</>;lwm2m=1.1,</0/0>;ssid=101;uri="coap://s1",</0/3>,</1/0>;ssid=101"#).expect("valid");
        assert_eq!(bootstrap_instance(&links), Some(3));
        let links = link::parse("lwm2m=\"1.0\",</0/0>;ssid=101").unwrap_or_default();
        assert_eq!(bootstrap_instance(&links), None);
    }

    #[test]
    fn identity_must_match_the_configured_bootstrap_psk_identity() {
        let ep = EndpointName::new("dev").expect("valid");
        let addr = "10.0.0.1:5683".parse().expect("addr");
        let config = BootstrapConfig::new()
            .with_security(0, super::super::ServerSecurity::bootstrap_psk("coaps://bs", b"dev-psk", b"key"));
        let with = |identity: Option<&str>| Peer { addr, identity: identity.map(str::to_owned) };
        assert!(identity_matches(&config, &ep, &with(Some("dev-psk"))));
        assert!(!identity_matches(&config, &ep, &with(Some("other"))));
        assert!(!identity_matches(&config, &ep, &with(None)));
        let open = BootstrapConfig::new();
        assert!(identity_matches(&open, &ep, &with(None)));
        assert!(identity_matches(&open, &ep, &with(Some("dev"))));
        assert!(!identity_matches(&open, &ep, &with(Some("someone-else"))));
    }

    #[test]
    fn reject_reasons_map_to_the_bootstrap_request_codes() {
        assert_eq!(Code::from(&RejectReason::MissingEndpoint), Code::BAD_REQUEST);
        assert_eq!(Code::from(&RejectReason::UnsupportedPct(0)), Code::UNSUPPORTED_CONTENT_FORMAT);
        assert_eq!(Code::from(&RejectReason::TooManySessions { limit: 1 }), Code::SERVICE_UNAVAILABLE);
    }
}
