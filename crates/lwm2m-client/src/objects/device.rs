//! Device object (3), single instance (Core TS §E.4): identification, Reboot (`/3/0/4`) and
//! Factory Reset (`/3/0/5`) reported as [`Action`]s, Current Time (`/3/0/13`) derived from
//! `now` plus an offset (the engine has no wall clock: the application tells it the time).

use std::collections::BTreeMap;
use std::time::Instant;

use lwm2m::{ExecuteArguments, Path, Value};

use crate::object::{Action, InstanceStore, Object, ObjectError, ResourceChange, ResourceValue};

/// Object ID.
pub const OBJECT_ID: u16 = 3;

const CURRENT_TIME: u16 = 13;
const REBOOT: u16 = 4;
const FACTORY_RESET: u16 = 5;

/// Identification of the device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// `/3/0/0`.
    pub manufacturer: String,
    /// `/3/0/1`.
    pub model: String,
    /// `/3/0/2`.
    pub serial: String,
    /// `/3/0/3`.
    pub firmware_version: String,
    /// `/3/0/16` supported binding modes (`"U"`).
    pub binding_modes: String,
}

/// The Device object.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceObject {
    store: InstanceStore,
    /// Unix time at an instant, once known.
    clock: Option<(Instant, i64)>,
}

impl DeviceObject {
    /// A Device object with instance 0 from `info`.
    pub fn new(info: &DeviceInfo) -> Self {
        let s = |v: &str| ResourceValue::Single(Value::String(v.to_owned()));
        let store = InstanceStore::new(OBJECT_ID).with_instance(
            0,
            [
                (0, s(&info.manufacturer)),
                (1, s(&info.model)),
                (2, s(&info.serial)),
                (3, s(&info.firmware_version)),
                (11, ResourceValue::Multiple(BTreeMap::from([(0, Value::Integer(0))]))),
                (16, s(&info.binding_modes)),
            ],
        );
        let store = store.with_executables([REBOOT, FACTORY_RESET]);
        Self { store, clock: None }
    }

    /// Sets the clock: at `now` the Unix time is `unix_seconds`.
    pub fn set_time(&mut self, now: Instant, unix_seconds: i64) {
        self.clock = Some((now, unix_seconds));
    }

    /// The Unix time at `now`, if the clock is set.
    pub fn current_time(&self, now: Instant) -> Option<i64> {
        let (at, unix) = self.clock?;
        let elapsed = i64::try_from(now.saturating_duration_since(at).as_secs()).unwrap_or(i64::MAX);
        Some(unix.saturating_add(elapsed))
    }
}

impl Object for DeviceObject {
    fn id(&self) -> u16 {
        OBJECT_ID
    }

    fn instances(&self) -> Vec<u16> {
        self.store.instances()
    }

    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        let mut values = self.store.read(now, instance)?;
        if let Some(time) = self.current_time(now) {
            values.insert(CURRENT_TIME, ResourceValue::Single(Value::Time(time)));
        }
        Some(values)
    }

    fn executables(&self, instance: u16) -> Vec<u16> {
        self.store.executables(instance)
    }

    fn write(&mut self, now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        let mut rest = Vec::with_capacity(changes.len());
        let mut clock = self.clock;
        for change in changes {
            match (change.resource, &change.value) {
                (CURRENT_TIME, Some(ResourceValue::Single(Value::Time(t) | Value::Integer(t)))) => {
                    clock = Some((now, *t));
                }
                (CURRENT_TIME, _) => {
                    return Err(ObjectError::BadValue {
                        path: Path::Resource(OBJECT_ID, instance, CURRENT_TIME),
                        reason: "current time must be a time value".to_owned(),
                    })
                }
                _ => rest.push(change),
            }
        }
        self.store.write(now, instance, rest)?;
        self.clock = clock;
        Ok(())
    }

    fn execute(
        &mut self,
        _now: Instant,
        instance: u16,
        resource: u16,
        _arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        let path = Path::Resource(OBJECT_ID, instance, resource);
        if instance != 0 {
            return Err(ObjectError::NotFound(Path::Instance(OBJECT_ID, instance)));
        }
        let action = match resource {
            REBOOT => Action::Reboot,
            FACTORY_RESET => Action::FactoryReset,
            _ => return Err(ObjectError::NotAllowed(path)),
        };
        self.store.push_action(action);
        Ok(())
    }

    fn create(
        &mut self,
        _now: Instant,
        instance: u16,
        _values: BTreeMap<u16, ResourceValue>,
    ) -> Result<(), ObjectError> {
        Err(ObjectError::NotAllowed(Path::Instance(OBJECT_ID, instance)))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(ObjectError::NotAllowed(Path::Instance(OBJECT_ID, instance)))
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.store.poll_action()
    }

    fn poll_changed(&mut self) -> Option<Path> {
        self.store.poll_changed()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn current_time_advances_with_now_after_a_write() {
        let start = Instant::now();
        let mut device = DeviceObject::new(&DeviceInfo::default());
        assert!(!device.read(start, 0).expect("instance 0").contains_key(&CURRENT_TIME));
        let change =
            ResourceChange { resource: CURRENT_TIME, value: Some(ResourceValue::Single(Value::Time(1_700_000_000))) };
        device.write(start, 0, vec![change]).expect("time is writable");
        let later = device.read(start + Duration::from_secs(90), 0).expect("instance 0");
        assert_eq!(later.get(&CURRENT_TIME), Some(&ResourceValue::Single(Value::Time(1_700_000_090))));
    }

    #[test]
    fn reboot_and_factory_reset_are_actions() {
        let now = Instant::now();
        let mut device = DeviceObject::new(&DeviceInfo::default());
        device.execute(now, 0, 4, &ExecuteArguments::new()).expect("reboot");
        device.execute(now, 0, 5, &ExecuteArguments::new()).expect("factory reset");
        assert_eq!(device.poll_action(), Some(Action::Reboot));
        assert_eq!(device.poll_action(), Some(Action::FactoryReset));
    }
}
