//! Object models (Core TS §7.1, OMA DDF XML) and the [`Registry`] that holds them.
//!
//! The core objects are bundled in the binary; a user adds or replaces definitions with a
//! directory of DDF XML files. A file for a bundled Object ID replaces the bundled definition.

use std::collections::BTreeMap;

use crate::path::Path;
use crate::value::DataType;

pub mod ddf;

/// Which operations a resource allows (DDF `Operations`: R, W, RW, E or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Operations {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// One resource of an object model.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceModel {
    /// Resource ID.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Allowed operations; all false for bootstrap-only resources.
    pub operations: Operations,
    /// Multiple instances.
    pub multiple: bool,
    /// Mandatory.
    pub mandatory: bool,
    /// Data type.
    pub data_type: DataType,
    /// Range or enumeration text, as in the DDF.
    pub range: String,
    /// Units.
    pub units: String,
    /// Description.
    pub description: String,
}

/// One object model.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectModel {
    /// Object ID.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Object version (`"1.0"`, `"2.0"` …).
    pub version: String,
    /// LwM2M version the object was written for.
    pub lwm2m_version: String,
    /// URN.
    pub urn: String,
    /// Multiple instances.
    pub multiple: bool,
    /// Mandatory.
    pub mandatory: bool,
    /// Resources by ID.
    pub resources: BTreeMap<u16, ResourceModel>,
}

/// The object models known to a process.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    objects: BTreeMap<u16, ObjectModel>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds or replaces a model.
    pub fn insert(&mut self, model: ObjectModel) {
        self.objects.insert(model.id, model);
    }

    /// The model of an object.
    pub fn object(&self, id: u16) -> Option<&ObjectModel> {
        self.objects.get(&id)
    }

    /// The model of a resource.
    pub fn resource(&self, object: u16, resource: u16) -> Option<&ResourceModel> {
        self.objects.get(&object)?.resources.get(&resource)
    }

    /// The declared type at a resource or resource-instance path.
    pub fn data_type(&self, path: &Path) -> Option<DataType> {
        match *path {
            Path::Resource(o, _, r) | Path::ResourceInstance(o, _, r, _) => Some(self.resource(o, r)?.data_type),
            _ => None,
        }
    }

    /// Whether the resource at `path` is multi-instance (`None` if unknown).
    pub fn is_multiple(&self, path: &Path) -> Option<bool> {
        match *path {
            Path::Resource(o, _, r) | Path::ResourceInstance(o, _, r, _) => Some(self.resource(o, r)?.multiple),
            _ => None,
        }
    }

    /// All models, by Object ID.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectModel> + '_ {
        self.objects.values()
    }
}
