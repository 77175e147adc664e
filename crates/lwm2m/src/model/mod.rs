//! Object models (Core TS §7.1, OMA DDF XML) and the [`Registry`] that holds them.
//!
//! The core objects are bundled in the binary; a user adds or replaces definitions with a
//! directory of DDF XML files. A file for a bundled Object ID replaces the bundled definition.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::OnceLock;

use crate::path::Path;
use crate::value::DataType;

pub mod ddf;

pub use ddf::DdfError;

/// Largest model file [`Registry::load_dir`] reads; registry files are well below 1 MiB.
pub const MAX_MODEL_FILE: u64 = 8 * 1024 * 1024;

/// The bundled DDF files (`models/{id}-{version}.xml`), embedded in the binary.
const BUNDLED: &[(&str, &str)] = &[
    ("0-1_2.xml", include_str!("models/0-1_2.xml")),
    ("1-1_2.xml", include_str!("models/1-1_2.xml")),
    ("2-1_1.xml", include_str!("models/2-1_1.xml")),
    ("3-1_2.xml", include_str!("models/3-1_2.xml")),
    ("4-1_3.xml", include_str!("models/4-1_3.xml")),
    ("5-1_2.xml", include_str!("models/5-1_2.xml")),
    ("9-1_0.xml", include_str!("models/9-1_0.xml")),
    ("25-2_0.xml", include_str!("models/25-2_0.xml")),
    ("3300-1_1.xml", include_str!("models/3300-1_1.xml")),
    ("3301-1_1.xml", include_str!("models/3301-1_1.xml")),
    ("3302-1_1.xml", include_str!("models/3302-1_1.xml")),
    ("3303-1_1.xml", include_str!("models/3303-1_1.xml")),
    ("3304-1_1.xml", include_str!("models/3304-1_1.xml")),
    ("3306-1_1.xml", include_str!("models/3306-1_1.xml")),
    ("3311-1_0.xml", include_str!("models/3311-1_0.xml")),
    ("3323-1_1.xml", include_str!("models/3323-1_1.xml")),
    ("3342-1_1.xml", include_str!("models/3342-1_1.xml")),
    ("3347-1_1.xml", include_str!("models/3347-1_1.xml")),
];

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

impl Operations {
    /// Parses the DDF `<Operations>` text: `R`, `W`, `RW`, `E` or empty (no operation from a
    /// Management Server: bootstrap only). Case and surrounding blanks are ignored.
    pub fn from_ddf(text: &str) -> Option<Self> {
        let (read, write, execute) = match text.trim().to_ascii_uppercase().as_str() {
            "" | "NONE" => (false, false, false),
            "R" => (true, false, false),
            "W" => (false, true, false),
            "RW" => (true, true, false),
            "E" => (false, false, true),
            _ => return None,
        };
        Some(Self { read, write, execute })
    }

    /// No operation is allowed from a Management Server (Security object resources).
    pub fn is_bootstrap_only(&self) -> bool {
        !self.read && !self.write && !self.execute
    }
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

impl ObjectModel {
    /// The model of one resource.
    pub fn resource(&self, id: u16) -> Option<&ResourceModel> {
        self.resources.get(&id)
    }
}

/// Why a directory of model files cannot be loaded. Each error names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory cannot be listed.
    #[error("cannot list model directory {}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read model file {}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_MODEL_FILE`].
    #[error("model file {} is larger than {max} bytes", file.display())]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A file is not valid UTF-8 text.
    #[error("model file {} is not UTF-8 text", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
    },
    /// A file is not a valid DDF document.
    #[error("invalid model file {}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the element and object.
        #[source]
        source: DdfError,
    },
    /// Two files of the directory define the same object.
    #[error("object {object} is defined in both {} and {}", first.display(), second.display())]
    Duplicate {
        /// Object ID.
        object: u16,
        /// The first file defining it.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
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

    /// The bundled models: the core objects (0 Security, 1 Server, 2 Access Control, 3 Device,
    /// 4 Connectivity Monitoring, 5 Firmware Update, 9 Software Management), 25 LwM2M Gateway
    /// 2.0 and a few IPSO objects. Parsed once per process; each call returns a copy.
    pub fn bundled() -> Self {
        Self::bundled_ref().clone()
    }

    /// The bundled models without copying them (see [`Registry::bundled`]).
    pub fn bundled_ref() -> &'static Self {
        static BUNDLED_REGISTRY: OnceLock<Registry> = OnceLock::new();
        BUNDLED_REGISTRY.get_or_init(|| {
            let mut registry = Self::empty();
            for (file, xml) in BUNDLED {
                // Covered by the `every_bundled_model_parses…` test: a failure is a build bug.
                let models = ddf::parse(xml).unwrap_or_else(|e| panic!("bundled model {file}: {e}"));
                for model in models {
                    registry.insert(model);
                }
            }
            registry
        })
    }

    /// The bundled models plus every `*.xml` file of `dir` (see [`Registry::load_dir`]).
    pub fn with_dir(dir: &FsPath) -> Result<Self, LoadError> {
        let mut registry = Self::bundled();
        registry.load_dir(dir)?;
        Ok(registry)
    }

    /// Loads every `*.xml` file of `dir` (not its subdirectories) and returns how many object
    /// models it added or replaced. A file for an Object ID already known (a bundled one)
    /// replaces that definition. All files are read before anything is inserted: on error the
    /// registry is unchanged, and the error names the file.
    pub fn load_dir(&mut self, dir: &FsPath) -> Result<usize, LoadError> {
        let read_dir_err = |source| LoadError::ReadDir { dir: dir.to_owned(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_dir_err)? {
            let path = entry.map_err(read_dir_err)?.path();
            let is_xml = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("xml"));
            if is_xml && path.is_file() {
                files.push(path);
            }
        }
        files.sort();

        let mut loaded: BTreeMap<u16, (ObjectModel, PathBuf)> = BTreeMap::new();
        for file in files {
            for model in load_file(&file)? {
                if let Some((_, first)) = loaded.get(&model.id) {
                    return Err(LoadError::Duplicate { object: model.id, first: first.clone(), second: file });
                }
                loaded.insert(model.id, (model, file.clone()));
            }
        }
        let count = loaded.len();
        for (model, _) in loaded.into_values() {
            self.insert(model);
        }
        Ok(count)
    }

    /// Number of object models.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no model is known.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
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

/// Reads and parses one model file, refusing files over [`MAX_MODEL_FILE`].
fn load_file(file: &FsPath) -> Result<Vec<ObjectModel>, LoadError> {
    use std::io::Read;

    let read_err = |source| LoadError::Read { file: file.to_owned(), source };
    let handle = std::fs::File::open(file).map_err(read_err)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    handle.take(MAX_MODEL_FILE + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_MODEL_FILE {
        return Err(LoadError::TooLarge { file: file.to_owned(), max: MAX_MODEL_FILE });
    }
    let text = String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 { file: file.to_owned() })?;
    ddf::parse(&text).map_err(|source| LoadError::Invalid { file: file.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_model_parses_and_its_file_is_named_id_dash_version() {
        for (file, xml) in BUNDLED {
            let models = ddf::parse(xml).unwrap_or_else(|e| panic!("{file}: {e}"));
            let [model] = models.as_slice() else { panic!("{file}: one object per file expected") };
            assert_eq!(*file, format!("{}-{}.xml", model.id, model.version.replace('.', "_")));
        }
        assert_eq!(Registry::bundled().len(), BUNDLED.len());
    }

    #[test]
    fn ddf_operations_parse() {
        assert_eq!(Operations::from_ddf(" rw "), Some(Operations { read: true, write: true, execute: false }));
        assert_eq!(Operations::from_ddf("E"), Some(Operations { read: false, write: false, execute: true }));
        assert!(Operations::from_ddf("").is_some_and(|o| o.is_bootstrap_only()));
        assert_eq!(Operations::from_ddf("RWE"), None);
    }
}
