//! The object trait every object implementation plugs into the client's tree, and a generic
//! in-memory instance store ("resources as values") that built-in and user objects reuse.
//!
//! The dispatcher (`dispatch.rs`) validates operations against the object model before an
//! object sees them; an object only stores values, runs executes and reports what it wants the
//! engine to do ([`Action`]). Invariant: a [`Object::write`] applies all changes or none.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Instant;

use lwm2m::{ExecuteArguments, Path, Value};

/// Short Server ID (`/0/x/10`, `/1/x/0`), 1..=65534.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u16);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The value of one resource: single, or the instances of a multi-instance resource.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceValue {
    /// A single-instance resource.
    Single(Value),
    /// A multi-instance resource, by resource-instance ID.
    Multiple(BTreeMap<u16, Value>),
}

/// One resource change of a [`Object::write`]: `None` removes the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    /// Resource ID.
    pub resource: u16,
    /// The resource's complete new value, or `None` to remove it.
    pub value: Option<ResourceValue>,
}

/// Why an object refused an operation; the dispatcher maps it to a CoAP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The instance or resource does not exist (4.04).
    #[error("{0} not found")]
    NotFound(Path),
    /// The operation is not allowed on this target (4.05).
    #[error("operation not allowed on {0}")]
    NotAllowed(Path),
    /// The value or arguments are not acceptable (4.00).
    #[error("bad value for {path}: {reason}")]
    BadValue {
        /// Target.
        path: Path,
        /// What is wrong.
        reason: String,
    },
    /// The object failed internally (5.00).
    #[error("object {object} failed: {reason}")]
    Internal {
        /// Object ID.
        object: u16,
        /// What went wrong.
        reason: String,
    },
}

/// Something an object asks the engine (or the application) to do, drained after each operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `/1/x/8`: send an Update to this server.
    RegistrationUpdate(ServerId),
    /// `/1/x/9`: start a client-initiated bootstrap.
    BootstrapRequest(ServerId),
    /// `/1/x/4`: De-register from this server and stay silent for the disable timeout.
    Disable(ServerId),
    /// `/3/0/4`: the application should reboot.
    Reboot,
    /// `/3/0/5`: the application should restore factory settings.
    FactoryReset,
    /// An executable resource of an application object ran.
    Executed {
        /// The resource.
        path: Path,
        /// Its arguments.
        arguments: ExecuteArguments,
    },
}

/// The resources of one instance, read in place.
pub trait InstanceValues {
    /// The value of resource `id`.
    fn resource(&self, id: u16) -> Option<&ResourceValue>;
}

impl InstanceValues for BTreeMap<u16, ResourceValue> {
    fn resource(&self, id: u16) -> Option<&ResourceValue> {
        self.get(&id)
    }
}

/// One instance of an [`InstanceStore`], read in place.
#[derive(Debug, Clone, Copy)]
struct StoredInstance<'a> {
    store: &'a InstanceStore,
    instance: u16,
}

impl InstanceValues for StoredInstance<'_> {
    fn resource(&self, id: u16) -> Option<&ResourceValue> {
        self.store.get(self.instance, id)
    }
}

/// `parse` applied to every instance of `object` (its ID and values), ascending: in place when
/// the object keeps its values in an [`InstanceStore`] (the Security and Server settings are
/// read after every input, so without copying each instance), else on an [`Object::read`] copy.
pub(crate) fn parse_instances<T>(
    object: &dyn Object,
    now: Instant,
    parse: impl Fn(u16, &dyn InstanceValues) -> Option<T>,
) -> Vec<T> {
    match object.store() {
        Some(store) => store
            .instances
            .keys()
            .filter_map(|&instance| parse(instance, &StoredInstance { store, instance }))
            .collect(),
        None => object.instances().into_iter().filter_map(|i| parse(i, &object.read(now, i)?)).collect(),
    }
}

/// An object implementation: the instances of one object ID.
///
/// Paths handed to an object were checked against the model (existence of the resource in the
/// model, operations, data types) by the dispatcher.
pub trait Object: fmt::Debug + Send {
    /// The object ID.
    fn id(&self) -> u16;
    /// The instance IDs, ascending.
    fn instances(&self) -> Vec<u16>;
    /// Every present resource of `instance` with its value; `None` if there is no such instance.
    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>>;
    /// The executable resources `instance` implements, ascending. They hold no value, so
    /// [`Object::read`] leaves them out, but Discover lists them with the readable ones (Core TS
    /// §5.4.2). The default is none: an object with executable resources must list them.
    fn executables(&self, _instance: u16) -> Vec<u16> {
        Vec::new()
    }
    /// Applies `changes` to `instance`, all or none.
    fn write(&mut self, now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError>;
    /// Runs the executable resource `instance/resource`.
    fn execute(
        &mut self,
        now: Instant,
        instance: u16,
        resource: u16,
        arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError>;
    /// Creates `instance` holding `values`.
    fn create(&mut self, now: Instant, instance: u16, values: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError>;
    /// Deletes `instance`.
    fn delete(&mut self, instance: u16) -> Result<(), ObjectError>;
    /// The next action the object wants performed.
    fn poll_action(&mut self) -> Option<Action> {
        None
    }
    /// The next path whose value changed on its own (a sensor reading), for observations.
    fn poll_changed(&mut self) -> Option<Path> {
        None
    }
    /// The store holding every value, when the object keeps them in one (reads it in place).
    fn store(&self) -> Option<&InstanceStore> {
        None
    }
}

/// A generic object that keeps its resources as values. Every instance implements the
/// executable resources declared with [`InstanceStore::with_executables`]; executing one is
/// reported as [`Action::Executed`], executing any other resource is 4.04. Local changes made
/// with [`InstanceStore::set`] are reported through [`Object::poll_changed`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstanceStore {
    id: u16,
    instances: BTreeMap<u16, Resources>,
    executables: BTreeSet<u16>,
    actions: VecDeque<Action>,
    changed: VecDeque<Path>,
}

/// The resources of one instance by ascending ID: a list sized to fit rather than a map, as a
/// store may hold many small instances (a gateway's `/25` has one per End-Device).
#[derive(Debug, Clone, PartialEq, Default)]
struct Resources(Vec<(u16, ResourceValue)>);

impl Resources {
    fn from_map(map: BTreeMap<u16, ResourceValue>) -> Self {
        let mut list: Vec<(u16, ResourceValue)> = map.into_iter().collect();
        list.shrink_to_fit();
        Self(list)
    }

    fn get(&self, resource: u16) -> Option<&ResourceValue> {
        let index = self.0.binary_search_by_key(&resource, |(id, _)| *id).ok()?;
        self.0.get(index).map(|(_, value)| value)
    }

    fn insert(&mut self, resource: u16, value: ResourceValue) {
        match self.0.binary_search_by_key(&resource, |(id, _)| *id) {
            Ok(index) => {
                if let Some(slot) = self.0.get_mut(index) {
                    slot.1 = value;
                }
            }
            Err(index) => self.0.insert(index, (resource, value)),
        }
    }

    fn remove(&mut self, resource: u16) {
        if let Ok(index) = self.0.binary_search_by_key(&resource, |(id, _)| *id) {
            self.0.remove(index);
        }
    }

    fn to_map(&self) -> BTreeMap<u16, ResourceValue> {
        self.0.iter().cloned().collect()
    }
}

/// How many unconsumed actions or change notes a store keeps before dropping the oldest.
const MAX_PENDING: usize = 256;

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= MAX_PENDING {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl InstanceStore {
    /// An object `id` without instances.
    pub fn new(id: u16) -> Self {
        Self { id, ..Self::default() }
    }

    /// Adds (or replaces) `instance` with `values`, builder style.
    #[must_use]
    pub fn with_instance(mut self, instance: u16, values: impl IntoIterator<Item = (u16, ResourceValue)>) -> Self {
        self.instances.insert(instance, Resources::from_map(values.into_iter().collect()));
        self
    }

    /// Declares the executable resources every instance implements, builder style.
    #[must_use]
    pub fn with_executables(mut self, resources: impl IntoIterator<Item = u16>) -> Self {
        self.executables.extend(resources);
        self
    }

    /// Adds (or replaces) `instance` with `values`.
    pub fn insert_instance(&mut self, instance: u16, values: BTreeMap<u16, ResourceValue>) {
        self.instances.insert(instance, Resources::from_map(values));
    }

    /// The value of `instance/resource`.
    pub fn get(&self, instance: u16, resource: u16) -> Option<&ResourceValue> {
        self.instances.get(&instance)?.get(resource)
    }

    /// The single value of `instance/resource`.
    pub fn value(&self, instance: u16, resource: u16) -> Option<&Value> {
        match self.get(instance, resource)? {
            ResourceValue::Single(value) => Some(value),
            ResourceValue::Multiple(_) => None,
        }
    }

    /// Sets `instance/resource` locally (no checks) and notes the change for observations.
    /// Returns `false` if the instance does not exist.
    pub fn set(&mut self, instance: u16, resource: u16, value: ResourceValue) -> bool {
        let Some(resources) = self.instances.get_mut(&instance) else { return false };
        if resources.get(resource) != Some(&value) {
            resources.insert(resource, value);
            push_bounded(&mut self.changed, Path::Resource(self.id, instance, resource));
        }
        true
    }

    /// Reports an action (used by wrappers around a store).
    pub fn push_action(&mut self, action: Action) {
        push_bounded(&mut self.actions, action);
    }

    /// Every instance and its resources (copied).
    pub fn iter(&self) -> impl Iterator<Item = (u16, BTreeMap<u16, ResourceValue>)> + '_ {
        self.instances.iter().map(|(id, r)| (*id, r.to_map()))
    }
}

impl Object for InstanceStore {
    fn id(&self) -> u16 {
        self.id
    }

    fn instances(&self) -> Vec<u16> {
        self.instances.keys().copied().collect()
    }

    fn read(&self, _now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        self.instances.get(&instance).map(Resources::to_map)
    }

    fn store(&self) -> Option<&InstanceStore> {
        Some(self)
    }

    fn executables(&self, instance: u16) -> Vec<u16> {
        if self.instances.contains_key(&instance) {
            self.executables.iter().copied().collect()
        } else {
            Vec::new()
        }
    }

    fn write(&mut self, _now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        let resources =
            self.instances.get_mut(&instance).ok_or(ObjectError::NotFound(Path::Instance(self.id, instance)))?;
        for change in changes {
            match change.value {
                Some(value) => resources.insert(change.resource, value),
                None => resources.remove(change.resource),
            }
        }
        Ok(())
    }

    fn execute(
        &mut self,
        _now: Instant,
        instance: u16,
        resource: u16,
        arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        if !self.instances.contains_key(&instance) {
            return Err(ObjectError::NotFound(Path::Instance(self.id, instance)));
        }
        let path = Path::Resource(self.id, instance, resource);
        if !self.executables.contains(&resource) {
            return Err(ObjectError::NotFound(path));
        }
        push_bounded(&mut self.actions, Action::Executed { path, arguments: arguments.clone() });
        Ok(())
    }

    fn create(
        &mut self,
        _now: Instant,
        instance: u16,
        values: BTreeMap<u16, ResourceValue>,
    ) -> Result<(), ObjectError> {
        if self.instances.contains_key(&instance) {
            return Err(ObjectError::BadValue {
                path: Path::Instance(self.id, instance),
                reason: "instance already exists".to_owned(),
            });
        }
        self.instances.insert(instance, Resources::from_map(values));
        Ok(())
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        self.instances.remove(&instance).map(|_| ()).ok_or(ObjectError::NotFound(Path::Instance(self.id, instance)))
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn poll_changed(&mut self) -> Option<Path> {
        self.changed.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_write_applies_changes_and_removals() {
        let now = Instant::now();
        let mut store = InstanceStore::new(3303).with_instance(
            0,
            [
                (5700, ResourceValue::Single(Value::Float(1.0))),
                (5701, ResourceValue::Single(Value::String("C".into()))),
            ],
        );
        let changes = vec![
            ResourceChange { resource: 5700, value: Some(ResourceValue::Single(Value::Float(2.5))) },
            ResourceChange { resource: 5701, value: None },
        ];
        store.write(now, 0, changes).expect("instance exists");
        assert_eq!(store.value(0, 5700), Some(&Value::Float(2.5)));
        assert_eq!(store.get(0, 5701), None);
        assert!(matches!(store.write(now, 9, vec![]), Err(ObjectError::NotFound(Path::Instance(3303, 9)))));
    }

    #[test]
    fn store_executes_and_lists_only_declared_executables() {
        let now = Instant::now();
        let mut store = InstanceStore::new(3303).with_instance(0, []).with_executables([5605]);
        assert_eq!(store.executables(0), vec![5605]);
        assert_eq!(store.executables(1), Vec::<u16>::new());
        let args = ExecuteArguments::default();
        store.execute(now, 0, 5605, &args).expect("declared executable");
        let path = Path::Resource(3303, 0, 5605);
        assert_eq!(store.poll_action(), Some(Action::Executed { path, arguments: args.clone() }));
        let undeclared = store.execute(now, 0, 5700, &args);
        assert_eq!(undeclared, Err(ObjectError::NotFound(Path::Resource(3303, 0, 5700))));
    }

    #[test]
    fn local_set_is_reported_once_as_changed() {
        let mut store = InstanceStore::new(3303).with_instance(0, []);
        assert!(store.set(0, 5700, ResourceValue::Single(Value::Float(1.0))));
        assert!(store.set(0, 5700, ResourceValue::Single(Value::Float(1.0))));
        assert_eq!(store.poll_changed(), Some(Path::Resource(3303, 0, 5700)));
        assert_eq!(store.poll_changed(), None);
        assert!(!store.set(7, 1, ResourceValue::Single(Value::None)));
    }
}
