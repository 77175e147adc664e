//! What the server engine reports to the application through
//! [`Server::poll_event`](crate::Server::poll_event).

use lwm2m::format::Record;
use lwm2m::{EndpointName, PrefixedPath};

use crate::end_device::EndDevice;
use crate::observation::ObservationId;
use crate::registration::Registration;
use crate::request::RequestId;
use crate::response::{DmResponse, RequestFailure};

/// An event for the application, in the order things happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A client registered; `replaced` is its previous registration, now gone with its
    /// observations.
    Registered {
        /// The new registration.
        registration: Registration,
        /// The registration of the same endpoint it replaced.
        replaced: Option<Registration>,
    },
    /// A client updated its registration.
    Updated {
        /// Before the Update.
        previous: Registration,
        /// After the Update.
        registration: Registration,
    },
    /// A client de-registered; its observations are gone.
    Deregistered {
        /// The registration that ended.
        registration: Registration,
    },
    /// A registration's lifetime passed without Update; its observations are gone.
    Expired {
        /// The registration that ended.
        registration: Registration,
    },
    /// The answer to a request sent with [`Server::send`](crate::Server::send).
    Response {
        /// The request's handle.
        id: RequestId,
        /// The endpoint it was sent to.
        endpoint: EndpointName,
        /// The typed answer, or why there is none.
        result: Result<DmResponse, RequestFailure>,
    },
    /// A notification of an observation.
    Notification {
        /// The endpoint observed.
        endpoint: EndpointName,
        /// The observation.
        observation: ObservationId,
        /// The observed paths.
        paths: Vec<PrefixedPath>,
        /// The values.
        records: Vec<Record>,
    },
    /// An observation ended on the client's side (error notification, RST, failure).
    ObservationEnded {
        /// The endpoint observed.
        endpoint: EndpointName,
        /// The observation.
        observation: ObservationId,
    },
    /// Data a client pushed with Send (`POST /dp`). Records of End-Devices carry their prefix.
    Send {
        /// The client (the gateway for End-Device data).
        endpoint: EndpointName,
        /// The values.
        records: Vec<Record>,
    },
    /// A gateway reported a new End-Device in `/25`.
    EndDeviceRegistered {
        /// The gateway's endpoint name.
        gateway: EndpointName,
        /// The End-Device.
        end_device: EndDevice,
    },
    /// An End-Device's prefix or object list changed.
    EndDeviceUpdated {
        /// The gateway's endpoint name.
        gateway: EndpointName,
        /// Before.
        previous: EndDevice,
        /// After.
        end_device: EndDevice,
    },
    /// An End-Device disappeared from `/25`, or its gateway's registration ended.
    EndDeviceRemoved {
        /// The gateway's endpoint name.
        gateway: EndpointName,
        /// The End-Device.
        end_device: EndDevice,
    },
    /// A queue-mode client woke up (sent a message after sleeping).
    Awake {
        /// The client.
        endpoint: EndpointName,
    },
    /// A queue-mode client's awake window passed.
    Sleeping {
        /// The client.
        endpoint: EndpointName,
    },
}
