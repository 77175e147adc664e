//! The LwM2M data model for lwm2m-gw: paths with an optional gateway prefix, typed values,
//! object models loaded from OMA DDF XML, every LwM2M content format, and the operation-level
//! data the client and server engines exchange: registration parameters and object lists
//! ([`register`]), notification attributes ([`attributes`]), the node tree ([`node`]) and
//! Execute arguments ([`execute`]).
//!
//! No sockets and no clock here: this crate turns bytes into [`format::Record`]s and back.
#![forbid(unsafe_code, unused_must_use)]

pub mod attributes;
pub mod execute;
pub mod format;
pub mod model;
pub mod node;
pub mod path;
pub mod register;
pub mod value;

pub use attributes::{
    AttributeChange, AttributeChanges, AttributeError, AttributeName, AttributeStore, NotificationAttributes,
    ServerDefaults,
};
pub use execute::{Argument, ExecuteArguments, ExecuteError};
pub use format::{FormatError, Record};
pub use model::{ObjectModel, Operations, Registry, ResourceModel};
pub use node::{
    MultipleResource, NewInstance, Node, NodeError, NodeJsonError, Object, ObjectInstance, Resource, ResourceInstance,
    SingleResource,
};
pub use path::{Path, PathError, Prefix, PrefixedPath};
pub use register::{
    Binding, EndpointName, ObjectInfo, ObjectLinks, ObjectVersion, ObjectVersionError, RegisterError, RegisterParams,
    RootLink, Transport, UpdateParams, Version,
};
pub use value::{DataType, Value};
