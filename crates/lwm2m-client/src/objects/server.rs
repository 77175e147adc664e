//! LwM2M Server object (1): per-server registration settings and the executes that drive the
//! registration state machine (`/1/x/4` Disable, `/1/x/8` Registration Update Trigger,
//! `/1/x/9` Bootstrap-Request Trigger) (Core TS §E.2, spec notes §2.2, §5).

use std::collections::BTreeMap;
use std::time::Instant;

use lwm2m::{ExecuteArguments, Path, Value};

use super::{boolean, put, string, uint};
use crate::object::{
    Action, InstanceStore, InstanceValues, Object, ObjectError, ResourceChange, ResourceValue, ServerId,
};

/// Object ID.
pub const OBJECT_ID: u16 = 1;

/// `/1/x/4` Disable.
const DISABLE: u16 = 4;
/// `/1/x/8` Registration Update Trigger.
const UPDATE_TRIGGER: u16 = 8;
/// `/1/x/9` Bootstrap-Request Trigger.
const BOOTSTRAP_TRIGGER: u16 = 9;

/// One Server instance in typed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInstance {
    /// `/1/x/0`.
    pub server_id: ServerId,
    /// `/1/x/1` lifetime in seconds (0: no expiry).
    pub lifetime: u32,
    /// `/1/x/2` default pmin.
    pub default_pmin: Option<u32>,
    /// `/1/x/3` default pmax.
    pub default_pmax: Option<u32>,
    /// `/1/x/5` disable timeout in seconds.
    pub disable_timeout: u32,
    /// `/1/x/6` notification storing when offline.
    pub notification_storing: bool,
    /// `/1/x/7` binding (`"U"`, `"UQ"`).
    pub binding: String,
    /// `/1/x/23` Mute Send (`None`: absent, which mutes too).
    pub mute_send: Option<bool>,
    /// `/1/x/26` default notification mode: `true` for CON.
    pub confirmable_notifications: bool,
    /// `/1/x/16` Bootstrap on Registration Failure (default true).
    pub bootstrap_on_failure: bool,
}

impl ServerInstance {
    /// Defaults for `server_id` with `lifetime` seconds, binding `U`.
    pub fn new(server_id: ServerId, lifetime: u32) -> Self {
        Self {
            server_id,
            lifetime,
            default_pmin: None,
            default_pmax: None,
            disable_timeout: 86_400,
            notification_storing: true,
            binding: "U".to_owned(),
            mute_send: None,
            confirmable_notifications: false,
            bootstrap_on_failure: true,
        }
    }

    /// Whether the binding asks for queue mode.
    pub fn queue_mode(&self) -> bool {
        self.binding.contains('Q')
    }

    /// Whether Send is allowed (`/1/x/23` present and false).
    pub fn send_allowed(&self) -> bool {
        self.mute_send == Some(false)
    }

    /// The resources of this instance.
    pub fn to_values(&self) -> BTreeMap<u16, ResourceValue> {
        let mut values = BTreeMap::new();
        put(&mut values, 0, Value::Integer(i64::from(self.server_id.0)));
        put(&mut values, 1, Value::Integer(i64::from(self.lifetime)));
        if let Some(pmin) = self.default_pmin {
            put(&mut values, 2, Value::Integer(i64::from(pmin)));
        }
        if let Some(pmax) = self.default_pmax {
            put(&mut values, 3, Value::Integer(i64::from(pmax)));
        }
        put(&mut values, 5, Value::Integer(i64::from(self.disable_timeout)));
        put(&mut values, 6, Value::Boolean(self.notification_storing));
        put(&mut values, 7, Value::String(self.binding.clone()));
        if let Some(mute) = self.mute_send {
            put(&mut values, 23, Value::Boolean(mute));
        }
        put(&mut values, 16, Value::Boolean(self.bootstrap_on_failure));
        put(&mut values, 26, Value::Integer(i64::from(self.confirmable_notifications)));
        values
    }

    /// Reads an instance back; `None` without a valid Short Server ID.
    pub fn from_values(values: &(impl InstanceValues + ?Sized)) -> Option<Self> {
        let server_id = uint(values, 0).and_then(|v| u16::try_from(v).ok()).filter(|v| (1..65535).contains(v))?;
        Some(Self {
            server_id: ServerId(server_id),
            lifetime: uint(values, 1).unwrap_or(86_400),
            default_pmin: uint(values, 2),
            default_pmax: uint(values, 3),
            disable_timeout: uint(values, 5).unwrap_or(86_400),
            notification_storing: boolean(values, 6).unwrap_or(true),
            binding: string(values, 7).unwrap_or("U").to_owned(),
            mute_send: boolean(values, 23),
            confirmable_notifications: uint(values, 26) == Some(1),
            bootstrap_on_failure: boolean(values, 16).unwrap_or(true),
        })
    }
}

/// The Server object: an [`InstanceStore`] whose executes become engine [`Action`]s.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerObject {
    store: InstanceStore,
}

impl ServerObject {
    /// A Server object holding `instances` (instance IDs 0, 1, … in order).
    pub fn new(instances: &[ServerInstance]) -> Self {
        let mut store = InstanceStore::new(OBJECT_ID).with_executables([DISABLE, UPDATE_TRIGGER, BOOTSTRAP_TRIGGER]);
        for (id, instance) in (0u16..).zip(instances) {
            store.insert_instance(id, instance.to_values());
        }
        Self { store }
    }
}

impl Object for ServerObject {
    fn id(&self) -> u16 {
        OBJECT_ID
    }

    fn instances(&self) -> Vec<u16> {
        self.store.instances()
    }

    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        self.store.read(now, instance)
    }

    fn store(&self) -> Option<&InstanceStore> {
        Some(&self.store)
    }

    fn executables(&self, instance: u16) -> Vec<u16> {
        self.store.executables(instance)
    }

    fn write(&mut self, now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        self.store.write(now, instance, changes)
    }

    fn execute(
        &mut self,
        now: Instant,
        instance: u16,
        resource: u16,
        _arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        let path = Path::Resource(OBJECT_ID, instance, resource);
        let values =
            self.store.read(now, instance).ok_or(ObjectError::NotFound(Path::Instance(OBJECT_ID, instance)))?;
        let server = ServerInstance::from_values(&values).ok_or_else(|| ObjectError::Internal {
            object: OBJECT_ID,
            reason: format!("instance {instance} has no valid short server id"),
        })?;
        let action = match resource {
            DISABLE => Action::Disable(server.server_id),
            UPDATE_TRIGGER => Action::RegistrationUpdate(server.server_id),
            BOOTSTRAP_TRIGGER => Action::BootstrapRequest(server.server_id),
            _ => return Err(ObjectError::NotAllowed(path)),
        };
        self.store.push_action(action);
        Ok(())
    }

    fn create(&mut self, now: Instant, instance: u16, values: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        self.store.create(now, instance, values)
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        self.store.delete(instance)
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.store.poll_action()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_executes_become_actions_for_the_instance_server() {
        let now = Instant::now();
        let mut object = ServerObject::new(&[ServerInstance::new(ServerId(101), 300)]);
        let args = ExecuteArguments::new();
        object.execute(now, 0, 8, &args).expect("update trigger");
        object.execute(now, 0, 9, &args).expect("bootstrap trigger");
        assert_eq!(object.poll_action(), Some(Action::RegistrationUpdate(ServerId(101))));
        assert_eq!(object.poll_action(), Some(Action::BootstrapRequest(ServerId(101))));
        assert!(matches!(object.execute(now, 0, 1, &args), Err(ObjectError::NotAllowed(_))));
    }

    #[test]
    fn absent_mute_send_mutes() {
        let mut server = ServerInstance::new(ServerId(1), 60);
        assert!(!server.send_allowed());
        server.mute_send = Some(false);
        let back = ServerInstance::from_values(&server.to_values()).expect("valid");
        assert!(back.send_allowed());
    }
}
