//! The object tree: every object implementation by ID, the model registry that types and checks
//! them, and the views the interfaces need (records for a path, the registration object list,
//! Discover links).
//!
//! Invariant: the tree never holds two implementations of one object ID.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use lwm2m::format::link::Link;
use lwm2m::{ObjectLinks, ObjectVersion, Path, PrefixedPath, Record, Registry, ResourceModel, Value};

use crate::dispatch::DmError;
use crate::object::{Object, ResourceValue};

/// Objects never listed in the registration payload (Security, OSCORE, COSE; Core TS §6.2.1).
pub const UNLISTED_OBJECTS: [u16; 3] = [0, 21, 23];

/// Every object of the client.
#[derive(Debug)]
pub struct ObjectTree {
    objects: BTreeMap<u16, Box<dyn Object>>,
    registry: Arc<Registry>,
}

impl ObjectTree {
    /// An empty tree typed by `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { objects: BTreeMap::new(), registry }
    }

    /// Adds `object`, replacing any implementation of the same ID.
    pub fn insert(&mut self, object: Box<dyn Object>) {
        self.objects.insert(object.id(), object);
    }

    /// The model registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The model registry, shared (to build another engine over the same models).
    pub fn shared_registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The implementation of object `id`.
    pub fn object(&self, id: u16) -> Option<&dyn Object> {
        self.objects.get(&id).map(AsRef::as_ref)
    }

    /// The implementation of object `id`, mutable.
    pub fn object_mut(&mut self, id: u16) -> Option<&mut (dyn Object + 'static)> {
        self.objects.get_mut(&id).map(AsMut::as_mut)
    }

    /// Every object, mutable (to drain actions and changes).
    pub(crate) fn objects_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Object>> + '_ {
        self.objects.values_mut()
    }

    /// Object IDs, ascending.
    pub fn object_ids(&self) -> Vec<u16> {
        self.objects.keys().copied().collect()
    }

    /// Whether `path` names something that exists (objects, instances, present resources and
    /// resource instances).
    pub fn exists(&self, now: Instant, path: &Path) -> bool {
        match *path {
            Path::Root => true,
            Path::Object(o) => self.objects.contains_key(&o),
            Path::Instance(o, i) => self.object(o).is_some_and(|obj| obj.instances().contains(&i)),
            Path::Resource(o, i, r) => self.resource(now, o, i, r).is_some(),
            Path::ResourceInstance(o, i, r, ri) => match self.resource(now, o, i, r) {
                Some(ResourceValue::Multiple(map)) => map.contains_key(&ri),
                _ => false,
            },
        }
    }

    /// The value of one resource.
    pub fn resource(&self, now: Instant, object: u16, instance: u16, resource: u16) -> Option<ResourceValue> {
        self.object(object)?.read(now, instance)?.remove(&resource)
    }

    /// The model of a resource, if the registry knows it.
    pub fn resource_model(&self, object: u16, resource: u16) -> Option<&ResourceModel> {
        self.registry.resource(object, resource)
    }

    /// Whether a management server may read `object/resource` (unknown models are readable).
    fn readable(&self, object: u16, resource: u16) -> bool {
        self.resource_model(object, resource).is_none_or(|m| m.operations.read)
    }

    /// The leaf records at or below `path`. With `readable_only`, resources the model marks
    /// not readable are left out, and naming one directly is 4.05.
    pub fn records(&self, now: Instant, path: &Path, readable_only: bool) -> Result<Vec<Record>, DmError> {
        let mut out = Vec::new();
        match *path {
            Path::Root => {
                for o in self.objects.keys() {
                    if !UNLISTED_OBJECTS.contains(o) || !readable_only {
                        out.extend(self.records(now, &Path::Object(*o), readable_only)?);
                    }
                }
            }
            Path::Object(o) => {
                let object = self.object(o).ok_or(DmError::NotFound(*path))?;
                for i in object.instances() {
                    self.instance_records(now, o, i, readable_only, &mut out)?;
                }
            }
            Path::Instance(o, i) => self.instance_records(now, o, i, readable_only, &mut out)?,
            Path::Resource(o, i, r) | Path::ResourceInstance(o, i, r, _) => {
                let object = self.object(o).ok_or(DmError::NotFound(*path))?;
                let values = object.read(now, i).ok_or(DmError::NotFound(Path::Instance(o, i)))?;
                if readable_only && self.resource_model(o, r).is_some_and(|m| !m.operations.read) {
                    return Err(DmError::NotAllowed(format!("{path} is not readable")));
                }
                let value = values.get(&r).ok_or(DmError::NotFound(Path::Resource(o, i, r)))?;
                push_resource(o, i, r, value, &mut out);
                if let Path::ResourceInstance(.., ri) = *path {
                    out.retain(|rec| rec.path.path == Path::ResourceInstance(o, i, r, ri));
                    if out.is_empty() {
                        return Err(DmError::NotFound(*path));
                    }
                }
            }
        }
        Ok(out)
    }

    fn instance_records(
        &self,
        now: Instant,
        o: u16,
        i: u16,
        readable_only: bool,
        out: &mut Vec<Record>,
    ) -> Result<(), DmError> {
        let object = self.object(o).ok_or(DmError::NotFound(Path::Object(o)))?;
        let values = object.read(now, i).ok_or(DmError::NotFound(Path::Instance(o, i)))?;
        for (r, value) in &values {
            if !readable_only || self.readable(o, *r) {
                push_resource(o, i, *r, value, out);
            }
        }
        Ok(())
    }

    /// The object version to announce for `object`: its model's version when not 1.0.
    pub fn announced_version(&self, object: u16) -> Option<ObjectVersion> {
        let version = &self.registry.object(object)?.version;
        let parsed: ObjectVersion = version.parse().ok()?;
        (parsed != ObjectVersion::new(1, 0)).then_some(parsed)
    }

    /// The registration object list (Core TS §6.2.1): every object but Security/OSCORE/COSE,
    /// with its instances and non-1.0 versions.
    pub fn object_links(&self) -> ObjectLinks {
        let mut links = ObjectLinks::new();
        for (id, object) in &self.objects {
            if UNLISTED_OBJECTS.contains(id) {
                continue;
            }
            links.add_object(*id, self.announced_version(*id));
            for instance in object.instances() {
                links.add_instance(*id, instance);
            }
        }
        links
    }

    /// The Discover links at and below `path` down to `depth` levels, without attributes:
    /// the instantiated resources of an instance, readable and executable alike.
    pub fn discover_links(&self, now: Instant, path: &Path, depth: usize) -> Result<Vec<(Path, Link)>, DmError> {
        let mut out = Vec::new();
        let link = |p: &Path| Link::to_path(&PrefixedPath::plain(*p));
        match *path {
            Path::Object(o) => {
                let object = self.object(o).ok_or(DmError::NotFound(*path))?;
                let mut top = link(path);
                if let Some(version) = self.announced_version(o) {
                    top = top.with("ver", version.to_string());
                }
                out.push((*path, top));
                if depth >= 1 {
                    for i in object.instances() {
                        self.discover_instance(now, o, i, depth - 1, &mut out)?;
                    }
                }
            }
            Path::Instance(o, i) => self.discover_instance(now, o, i, depth, &mut out)?,
            Path::Resource(o, i, r) => match self.resource(now, o, i, r) {
                Some(value) => discover_resource(o, i, r, &value, depth, &mut out),
                None if self.object(o).is_some_and(|obj| obj.executables(i).contains(&r)) => {
                    out.push((*path, link(path)));
                }
                None => return Err(DmError::NotFound(*path)),
            },
            Path::Root | Path::ResourceInstance(..) => {
                return Err(DmError::NotAllowed(format!("discover on {path}")));
            }
        }
        Ok(out)
    }

    fn discover_instance(
        &self,
        now: Instant,
        o: u16,
        i: u16,
        depth: usize,
        out: &mut Vec<(Path, Link)>,
    ) -> Result<(), DmError> {
        let object = self.object(o).ok_or(DmError::NotFound(Path::Object(o)))?;
        let values = object.read(now, i).ok_or(DmError::NotFound(Path::Instance(o, i)))?;
        let path = Path::Instance(o, i);
        out.push((path, Link::to_path(&PrefixedPath::plain(path))));
        if depth >= 1 {
            // Executable resources hold no value but are instantiated resources all the same.
            let mut resources: BTreeMap<u16, Option<&ResourceValue>> =
                object.executables(i).into_iter().map(|r| (r, None)).collect();
            resources.extend(values.iter().map(|(r, value)| (*r, Some(value))));
            for (r, value) in resources {
                match value {
                    Some(value) => discover_resource(o, i, r, value, depth - 1, out),
                    None => {
                        let p = Path::Resource(o, i, r);
                        out.push((p, Link::to_path(&PrefixedPath::plain(p))));
                    }
                }
            }
        }
        Ok(())
    }

    /// The lowest free instance ID of `object`.
    pub fn free_instance(&self, object: u16) -> Option<u16> {
        let taken = self.object(object)?.instances();
        (0..u16::MAX).find(|i| !taken.contains(i))
    }
}

fn discover_resource(o: u16, i: u16, r: u16, value: &ResourceValue, depth: usize, out: &mut Vec<(Path, Link)>) {
    let path = Path::Resource(o, i, r);
    let mut link = Link::to_path(&PrefixedPath::plain(path));
    if let ResourceValue::Multiple(map) = value {
        link = link.with("dim", map.len().to_string());
        out.push((path, link));
        if depth >= 1 {
            for ri in map.keys() {
                let p = Path::ResourceInstance(o, i, r, *ri);
                out.push((p, Link::to_path(&PrefixedPath::plain(p))));
            }
        }
    } else {
        out.push((path, link));
    }
}

fn push_resource(o: u16, i: u16, r: u16, value: &ResourceValue, out: &mut Vec<Record>) {
    match value {
        ResourceValue::Single(Value::None) => {}
        ResourceValue::Single(v) => out.push(Record::new(PrefixedPath::plain(Path::Resource(o, i, r)), v.clone())),
        ResourceValue::Multiple(map) => {
            for (ri, v) in map {
                out.push(Record::new(PrefixedPath::plain(Path::ResourceInstance(o, i, r, *ri)), v.clone()));
            }
        }
    }
}
