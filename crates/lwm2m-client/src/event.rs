//! What the client reports to the application.

use coap::{Code, Request, Token};
use lwm2m::{ExecuteArguments, Path, Version};

use crate::config::Connection;
use crate::object::ServerId;
use crate::proxy::ProxyHandle;

/// What the client reports to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The runtime must be able to reach this server (set up DTLS for `coaps://`).
    ConnectionNeeded(Connection),
    /// Registered (2.01) with a server.
    Registered {
        /// The server.
        server: ServerId,
        /// LwM2M version the registration uses.
        version: Version,
        /// Registration path (`/rd/5a3f`).
        location: String,
    },
    /// Register failed; retried after the retry delay.
    RegistrationFailed {
        /// The server.
        server: ServerId,
        /// The server's code, `None` for a timeout or local failure.
        code: Option<Code>,
    },
    /// Update answered 2.04.
    Updated {
        /// The server.
        server: ServerId,
    },
    /// De-registered (or the De-register ended).
    Deregistered {
        /// The server.
        server: ServerId,
    },
    /// Queue mode: nothing expected from this server until we send again.
    Sleeping {
        /// The server.
        server: ServerId,
    },
    /// Bootstrap-Request sent.
    BootstrapStarted,
    /// Bootstrap-Finish accepted; registration with the configured servers follows.
    BootstrapFinished,
    /// Bootstrap failed (refused, timed out, no bootstrap account).
    BootstrapFailed {
        /// Why.
        reason: String,
    },
    /// `/3/0/4` executed.
    RebootRequested,
    /// `/3/0/5` executed.
    FactoryResetRequested,
    /// An executable resource of an application object ran.
    Executed {
        /// The resource.
        path: Path,
        /// Its arguments.
        arguments: ExecuteArguments,
    },
    /// A server wrote a resource of an application object (object ID ≥ 3).
    WriteApplied {
        /// The server.
        server: ServerId,
        /// The resource.
        path: Path,
    },
    /// A Send was answered with success.
    SendAcknowledged {
        /// The server.
        server: ServerId,
        /// The handle [`Client::send`](crate::Client::send) returned.
        token: Token,
    },
    /// A Send failed.
    SendFailed {
        /// The server.
        server: ServerId,
        /// The handle [`Client::send`](crate::Client::send) returned.
        token: Token,
        /// The server's code, `None` for a timeout.
        code: Option<Code>,
    },
    /// A request for an End-Device prefix (see [`crate::proxy`]): answer it with
    /// [`Client::respond_proxied`](crate::Client::respond_proxied).
    ProxyRequest {
        /// The handle for the answer (and the notifications of an Observe).
        handle: ProxyHandle,
        /// The request, whole.
        request: Request,
        /// A GET/FETCH with Observe: 0: a 2.xx answer starts an observation.
        observe: bool,
    },
    /// The server cancelled an observation of a [`ClientEvent::ProxyRequest`] (RST, Observe: 1,
    /// or unacknowledged notifications).
    ProxyObservationCancelled {
        /// The observation's handle.
        handle: ProxyHandle,
    },
}
