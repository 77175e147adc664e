//! The application objects of the simulated device: Temperature (3303), Light Control (3311)
//! and Firmware Update (5), as [`lwm2m_client::Object`]s over one shared [`DeviceState`].
//!
//! Temperature is multi-instance: sensor 0 is built in, and a server may Create further
//! simulated sensors (up to [`MAX_SENSORS`] in all; the device picks the lowest free ID when the
//! Create names none) and Delete them again. Sensor 0 cannot be deleted (4.05): it is the one
//! `--send-interval` reports. The only resource a server may write is Application Type (5750).
//!
//! The client engine owns the objects (in its tree) while the device engine changes the same
//! state on timer ticks and finished downloads, so both hold an `Arc<Mutex<DeviceState>>`; the
//! lock is only ever taken inside one engine call of one driver task, so it is uncontended.
//! Every change made outside a server's Write is noted in the state and handed to the client
//! (`poll_changed` / `Client::value_changed`) so observations see it (IPSO 3303/3311 and Core TS
//! §E.6 resource tables).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lwm2m::{ExecuteArguments, Path, Value};
use lwm2m_client::{Object, ObjectError, ResourceChange, ResourceValue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::firmware::{self, Firmware};

/// Temperature object ID.
pub(crate) const TEMPERATURE: u16 = 3303;
/// Light Control object ID.
pub(crate) const LIGHT: u16 = 3311;

const SENSOR_VALUE: u16 = 5700;
const MIN_MEASURED: u16 = 5601;
const MAX_MEASURED: u16 = 5602;
const MIN_RANGE: u16 = 5603;
const MAX_RANGE: u16 = 5604;
const UNITS: u16 = 5701;
const RESET_MIN_MAX: u16 = 5605;
const ON_OFF: u16 = 5850;
const DIMMER: u16 = 5851;
const ON_TIME: u16 = 5852;
const COLOUR: u16 = 5706;
const APPLICATION_TYPE: u16 = 5750;
/// The longest Application Type accepted, in bytes.
const MAX_APPLICATION_TYPE: usize = 64;
/// Most temperature sensors (3303 instances) one device simulates, sensor 0 included.
pub(crate) const MAX_SENSORS: usize = 16;
/// Dimmer value of a new light (and of one whose Replace left the dimmer out).
const FACTORY_DIMMER: i64 = 100;
/// Colour of a new light (and of one whose Replace left the colour out).
const FACTORY_COLOUR: &str = "white";

/// Most change notes kept between drains.
const MAX_CHANGED: usize = 64;

/// A temperature that follows a slow sine plus seeded noise.
#[derive(Debug)]
pub(crate) struct Temperature {
    value: f64,
    min: f64,
    max: f64,
    started_at: Instant,
    rng: ChaCha8Rng,
    /// Mean, in °C.
    base: f64,
    /// `5750`, set by a server.
    application_type: Option<String>,
}

/// Amplitude of the sine, °C.
const AMPLITUDE: f64 = 3.0;
/// Period of the sine.
const PERIOD: Duration = Duration::from_secs(600);
/// Noise is uniform in ±NOISE °C.
const NOISE: f64 = 0.2;

impl Temperature {
    fn new(now: Instant, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let base = 18.0 + f64::from(rng.random_range(0u8..=60)) / 10.0;
        Self { value: base, min: base, max: base, started_at: now, rng, base, application_type: None }
    }

    /// The reading at `now` (rounded to 0.01 °C).
    fn sample(&mut self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.started_at).as_secs_f64();
        let phase = std::f64::consts::TAU * t / PERIOD.as_secs_f64();
        let noise = self.rng.random_range(-NOISE..=NOISE);
        ((self.base + AMPLITUDE * phase.sin() + noise) * 100.0).round() / 100.0
    }

    /// The current value.
    #[cfg(test)]
    pub(crate) fn value(&self) -> f64 {
        self.value
    }
}

/// A dimmable light.
#[derive(Debug)]
pub(crate) struct Light {
    on: bool,
    dimmer: i64,
    /// On-time accumulated before `on_since`.
    on_time: u64,
    on_since: Option<Instant>,
    colour: String,
}

impl Light {
    fn on_time(&self, now: Instant) -> u64 {
        let running = self.on_since.map_or(0, |at| now.saturating_duration_since(at).as_secs());
        self.on_time.saturating_add(running)
    }
}

/// Everything that changes on the simulated device.
#[derive(Debug)]
pub(crate) struct DeviceState {
    /// The temperature sensors by 3303 instance ID; 0 always exists.
    pub(crate) temperatures: BTreeMap<u16, Temperature>,
    /// Seed of sensor 0; sensor `i` derives its own from it.
    seed: u64,
    pub(crate) light: Light,
    pub(crate) firmware: Firmware,
    changed: VecDeque<Path>,
}

/// The state shared by the device engine and the objects in the client's tree.
pub(crate) type Shared = Arc<Mutex<DeviceState>>;

/// Locks `shared`; a poisoned lock (a panic elsewhere) still holds consistent values.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, DeviceState> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DeviceState {
    /// A device at `now` running `firmware_version`; `seed` drives the sensor noise.
    pub(crate) fn new(now: Instant, seed: u64, firmware_version: &str, update_delay: Duration) -> Self {
        Self {
            temperatures: BTreeMap::from([(0, Temperature::new(now, seed))]),
            seed,
            light: Light {
                on: false,
                dimmer: FACTORY_DIMMER,
                on_time: 0,
                on_since: None,
                colour: FACTORY_COLOUR.to_owned(),
            },
            firmware: Firmware::new(firmware_version, update_delay),
            changed: VecDeque::new(),
        }
    }

    fn note(&mut self, path: Path) {
        if self.changed.len() >= MAX_CHANGED {
            self.changed.pop_front();
        }
        self.changed.push_back(path);
    }

    /// The next changed path (any object), for observations.
    pub(crate) fn poll_changed(&mut self) -> Option<Path> {
        self.changed.pop_front().or_else(|| self.firmware.poll_changed())
    }

    /// Takes a new reading of every temperature sensor at `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        let mut changed = Vec::new();
        for (i, t) in &mut self.temperatures {
            let value = t.sample(now);
            if value != t.value {
                t.value = value;
                changed.push(Path::Resource(TEMPERATURE, *i, SENSOR_VALUE));
            }
            if value < t.min {
                t.min = value;
                changed.push(Path::Resource(TEMPERATURE, *i, MIN_MEASURED));
            }
            if value > t.max {
                t.max = value;
                changed.push(Path::Resource(TEMPERATURE, *i, MAX_MEASURED));
            }
        }
        for path in changed {
            self.note(path);
        }
    }

    /// Adds temperature sensor `instance`, first reading at `now`.
    fn add_sensor(&mut self, now: Instant, instance: u16, application_type: Option<String>) -> Result<(), ObjectError> {
        let path = Path::Instance(TEMPERATURE, instance);
        if self.temperatures.contains_key(&instance) {
            return Err(bad(path, "the sensor already exists"));
        }
        if self.temperatures.len() >= MAX_SENSORS {
            return Err(bad(path, "the device simulates at most 16 temperature sensors"));
        }
        let seed = self.seed.wrapping_add(u64::from(instance).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut sensor = Temperature::new(now, seed);
        sensor.application_type = application_type;
        self.temperatures.insert(instance, sensor);
        Ok(())
    }
}

fn single(value: Value) -> ResourceValue {
    ResourceValue::Single(value)
}

fn not_found(object: u16, instance: u16) -> ObjectError {
    ObjectError::NotFound(Path::Instance(object, instance))
}

fn bad(path: Path, reason: &str) -> ObjectError {
    ObjectError::BadValue { path, reason: reason.to_owned() }
}

/// Objects with one fixed instance 0 refuse Create and Delete alike (and sensor 0 its Delete).
fn fixed_instance(object: u16, instance: u16) -> ObjectError {
    ObjectError::NotAllowed(Path::Instance(object, instance))
}

/// Temperature (3303): sensor 0 and the sensors servers created.
#[derive(Debug)]
pub(crate) struct TemperatureObject(pub(crate) Shared);

/// The Application Type of a Create or Write of `instance`, checked.
fn application_type(instance: u16, value: Option<&ResourceValue>) -> Result<Option<String>, ObjectError> {
    let path = Path::Resource(TEMPERATURE, instance, APPLICATION_TYPE);
    match value {
        None => Ok(None),
        Some(ResourceValue::Single(Value::String(text))) if text.len() <= MAX_APPLICATION_TYPE => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(bad(path, "application type must be a string of at most 64 bytes")),
    }
}

impl Object for TemperatureObject {
    fn id(&self) -> u16 {
        TEMPERATURE
    }

    fn instances(&self) -> Vec<u16> {
        lock(&self.0).temperatures.keys().copied().collect()
    }

    fn read(&self, _now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        let state = lock(&self.0);
        let t = state.temperatures.get(&instance)?;
        let mut values = BTreeMap::from([
            (SENSOR_VALUE, single(Value::Float(t.value))),
            (MIN_MEASURED, single(Value::Float(t.min))),
            (MAX_MEASURED, single(Value::Float(t.max))),
            (MIN_RANGE, single(Value::Float(-40.0))),
            (MAX_RANGE, single(Value::Float(85.0))),
            (UNITS, single(Value::String("Cel".to_owned()))),
        ]);
        if let Some(kind) = &t.application_type {
            values.insert(APPLICATION_TYPE, single(Value::String(kind.clone())));
        }
        Some(values)
    }

    fn executables(&self, instance: u16) -> Vec<u16> {
        if lock(&self.0).temperatures.contains_key(&instance) {
            vec![RESET_MIN_MAX]
        } else {
            Vec::new()
        }
    }

    fn write(&mut self, _now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        let mut state = lock(&self.0);
        let sensor = state.temperatures.get_mut(&instance).ok_or_else(|| not_found(TEMPERATURE, instance))?;
        let mut kind = sensor.application_type.clone();
        for change in &changes {
            match change.resource {
                APPLICATION_TYPE => kind = application_type(instance, change.value.as_ref())?,
                // A Replace lists the read-only resources as removed: they stay.
                _ if change.value.is_none() => {}
                other => return Err(ObjectError::NotAllowed(Path::Resource(TEMPERATURE, instance, other))),
            }
        }
        if kind != sensor.application_type {
            sensor.application_type = kind;
            state.note(Path::Resource(TEMPERATURE, instance, APPLICATION_TYPE));
        }
        Ok(())
    }

    fn execute(
        &mut self,
        _now: Instant,
        instance: u16,
        resource: u16,
        _arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        if resource != RESET_MIN_MAX {
            return Err(ObjectError::NotAllowed(Path::Resource(TEMPERATURE, instance, resource)));
        }
        let mut state = lock(&self.0);
        let sensor = state.temperatures.get_mut(&instance).ok_or_else(|| not_found(TEMPERATURE, instance))?;
        sensor.min = sensor.value;
        sensor.max = sensor.value;
        state.note(Path::Resource(TEMPERATURE, instance, MIN_MEASURED));
        state.note(Path::Resource(TEMPERATURE, instance, MAX_MEASURED));
        Ok(())
    }

    fn create(&mut self, now: Instant, instance: u16, values: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        let mut kind = None;
        for (resource, value) in &values {
            match *resource {
                APPLICATION_TYPE => kind = application_type(instance, Some(value))?,
                other => return Err(ObjectError::NotAllowed(Path::Resource(TEMPERATURE, instance, other))),
            }
        }
        lock(&self.0).add_sensor(now, instance, kind)
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        if instance == 0 {
            // The built-in sensor, reported by Send: protected.
            return Err(fixed_instance(TEMPERATURE, 0));
        }
        let mut state = lock(&self.0);
        state.temperatures.remove(&instance).map(|_| ()).ok_or_else(|| not_found(TEMPERATURE, instance))
    }

    fn poll_changed(&mut self) -> Option<Path> {
        lock(&self.0).poll_changed()
    }
}

/// Light Control (3311), instance 0.
#[derive(Debug)]
pub(crate) struct LightObject(pub(crate) Shared);

impl Object for LightObject {
    fn id(&self) -> u16 {
        LIGHT
    }

    fn instances(&self) -> Vec<u16> {
        vec![0]
    }

    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        if instance != 0 {
            return None;
        }
        let state = lock(&self.0);
        let l = &state.light;
        Some(BTreeMap::from([
            (ON_OFF, single(Value::Boolean(l.on))),
            (DIMMER, single(Value::Integer(l.dimmer))),
            (ON_TIME, single(Value::Integer(i64::try_from(l.on_time(now)).unwrap_or(i64::MAX)))),
            (COLOUR, single(Value::String(l.colour.clone()))),
        ]))
    }

    fn write(&mut self, now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        if instance != 0 {
            return Err(not_found(LIGHT, instance));
        }
        let mut state = lock(&self.0);
        let mut next = Light { colour: state.light.colour.clone(), ..state.light };
        for change in changes {
            let path = Path::Resource(LIGHT, 0, change.resource);
            // A Replace of the instance that leaves an optional resource out removes it; the
            // simulated light cannot lose one, so it goes back to its factory value.
            let value = match change.value {
                Some(ResourceValue::Single(value)) => value,
                None => match change.resource {
                    DIMMER => Value::Integer(FACTORY_DIMMER),
                    ON_TIME => Value::Integer(0),
                    COLOUR => Value::String(FACTORY_COLOUR.to_owned()),
                    _ => return Err(ObjectError::NotAllowed(path)),
                },
                Some(ResourceValue::Multiple(_)) => return Err(bad(path, "a single value is required")),
            };
            match (change.resource, value) {
                (ON_OFF, Value::Boolean(on)) => {
                    if on && !next.on {
                        next.on_since = Some(now);
                    } else if !on && next.on {
                        next.on_time = next.on_time(now);
                        next.on_since = None;
                    }
                    next.on = on;
                }
                (DIMMER, Value::Integer(d)) if (0..=100).contains(&d) => next.dimmer = d,
                (DIMMER, _) => return Err(bad(path, "dimmer must be an integer 0..=100")),
                (ON_TIME, Value::Integer(t)) if t >= 0 => {
                    next.on_time = t.unsigned_abs();
                    next.on_since = next.on.then_some(now);
                }
                (ON_TIME, _) => return Err(bad(path, "on time must be a non-negative integer")),
                (COLOUR, Value::String(c)) if c.len() <= 64 => next.colour = c,
                (COLOUR, _) => return Err(bad(path, "colour must be a string of at most 64 bytes")),
                (ON_OFF, _) => return Err(bad(path, "on/off must be a boolean")),
                _ => return Err(ObjectError::NotAllowed(path)),
            }
        }
        state.light = next;
        Ok(())
    }

    fn execute(
        &mut self,
        _now: Instant,
        instance: u16,
        resource: u16,
        _arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        Err(ObjectError::NotAllowed(Path::Resource(LIGHT, instance, resource)))
    }

    fn create(&mut self, _now: Instant, instance: u16, _v: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        Err(fixed_instance(LIGHT, instance))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(fixed_instance(LIGHT, instance))
    }
}

/// Firmware Update (5), instance 0.
#[derive(Debug)]
pub(crate) struct FirmwareObject(pub(crate) Shared);

impl Object for FirmwareObject {
    fn id(&self) -> u16 {
        firmware::OBJECT_ID
    }

    fn instances(&self) -> Vec<u16> {
        vec![0]
    }

    fn read(&self, _now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        if instance != 0 {
            return None;
        }
        let state = lock(&self.0);
        let fw = &state.firmware;
        let (name, version) = match fw.package() {
            Some(p) => (format!("lwm2m-gw-sim@{}", p.sha256), p.version.clone()),
            None => (String::new(), String::new()),
        };
        Some(BTreeMap::from([
            (firmware::PACKAGE_URI, single(Value::String(fw.uri().to_owned()))),
            (firmware::STATE, single(Value::Integer(fw.state().code()))),
            (firmware::UPDATE_RESULT, single(Value::Integer(fw.result().code()))),
            (firmware::PKG_NAME, single(Value::String(name))),
            (firmware::PKG_VERSION, single(Value::String(version))),
            (firmware::PROTOCOL_SUPPORT, ResourceValue::Multiple(BTreeMap::from([(0, Value::Integer(0))]))),
            // 2: push and pull.
            (firmware::DELIVERY_METHOD, single(Value::Integer(2))),
        ]))
    }

    fn executables(&self, instance: u16) -> Vec<u16> {
        if instance == 0 {
            vec![firmware::UPDATE]
        } else {
            Vec::new()
        }
    }

    fn write(&mut self, _now: Instant, instance: u16, changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        if instance != 0 {
            return Err(not_found(firmware::OBJECT_ID, instance));
        }
        let mut state = lock(&self.0);
        for change in &changes {
            let path = Path::Resource(firmware::OBJECT_ID, 0, change.resource);
            let cancels = match &change.value {
                Some(ResourceValue::Single(Value::Opaque(b))) => b.is_empty(),
                Some(ResourceValue::Single(Value::String(s))) => s.is_empty(),
                _ => false,
            };
            match (change.resource, &change.value) {
                // An empty package or URI cancels whatever runs; anything else waits for idle
                // or downloaded.
                (firmware::PACKAGE | firmware::PACKAGE_URI, _) if !cancels && !state.firmware.accepts_delivery() => {
                    return Err(ObjectError::NotAllowed(path));
                }
                (firmware::PACKAGE, Some(ResourceValue::Single(Value::Opaque(_))))
                | (firmware::PACKAGE_URI, Some(ResourceValue::Single(Value::String(_)))) => {}
                (firmware::PACKAGE | firmware::PACKAGE_URI, _) => return Err(bad(path, "wrong value type")),
                _ => return Err(ObjectError::NotAllowed(path)),
            }
        }
        for change in changes {
            match change.value {
                Some(ResourceValue::Single(Value::Opaque(bytes))) => state.firmware.write_package(&bytes),
                Some(ResourceValue::Single(Value::String(uri))) => state.firmware.write_uri(&uri),
                _ => {}
            }
        }
        Ok(())
    }

    fn execute(
        &mut self,
        now: Instant,
        instance: u16,
        resource: u16,
        _arguments: &ExecuteArguments,
    ) -> Result<(), ObjectError> {
        let path = Path::Resource(firmware::OBJECT_ID, instance, resource);
        if instance != 0 {
            return Err(not_found(firmware::OBJECT_ID, instance));
        }
        if resource != firmware::UPDATE {
            return Err(ObjectError::NotAllowed(path));
        }
        if lock(&self.0).firmware.start_update(now) {
            Ok(())
        } else {
            Err(ObjectError::NotAllowed(path))
        }
    }

    fn create(&mut self, _now: Instant, instance: u16, _v: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        Err(fixed_instance(firmware::OBJECT_ID, instance))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(fixed_instance(firmware::OBJECT_ID, instance))
    }

    fn poll_changed(&mut self) -> Option<Path> {
        lock(&self.0).poll_changed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(now: Instant) -> Shared {
        Arc::new(Mutex::new(DeviceState::new(now, 7, "1.0", Duration::from_secs(1))))
    }

    #[test]
    fn temperature_changes_over_time_and_tracks_min_and_max() {
        let now = Instant::now();
        let s = shared(now);
        let mut object = TemperatureObject(s.clone());
        let mut seen = Vec::new();
        for minute in 1..=10 {
            lock(&s).tick(now + Duration::from_secs(60 * minute));
            seen.push(lock(&s).temperatures[&0].value());
        }
        seen.dedup();
        assert!(seen.len() > 5, "the reading moves: {seen:?}");
        let values = object.read(now, 0).expect("instance 0");
        let (Some(ResourceValue::Single(Value::Float(min))), Some(ResourceValue::Single(Value::Float(max)))) =
            (values.get(&MIN_MEASURED), values.get(&MAX_MEASURED))
        else {
            panic!("min and max are floats: {values:?}");
        };
        assert!(seen.iter().all(|v| v >= min && v <= max));
        assert!(std::iter::from_fn(|| object.poll_changed()).any(|p| p == Path::Resource(TEMPERATURE, 0, 5700)));
        object.execute(now, 0, RESET_MIN_MAX, &ExecuteArguments::new()).expect("reset");
        let t = &lock(&s).temperatures[&0];
        assert_eq!((t.min, t.max), (t.value, t.value));
    }

    #[test]
    fn servers_create_and_delete_further_sensors_but_not_sensor_0() {
        let now = Instant::now();
        let s = shared(now);
        let mut object = TemperatureObject(s.clone());
        let kind = BTreeMap::from([(APPLICATION_TYPE, single(Value::String("fridge".into())))]);
        object.create(now, 3, kind).expect("a new sensor");
        assert_eq!(object.instances(), vec![0, 3]);
        let values = object.read(now, 3).expect("sensor 3");
        assert_eq!(values.get(&APPLICATION_TYPE), Some(&single(Value::String("fridge".into()))));
        assert!(matches!(values.get(&SENSOR_VALUE), Some(ResourceValue::Single(Value::Float(_)))));
        assert_eq!(object.executables(3), vec![RESET_MIN_MAX]);
        lock(&s).tick(now + Duration::from_secs(90));
        let moved = std::iter::from_fn(|| object.poll_changed()).any(|p| p == Path::Resource(TEMPERATURE, 3, 5700));
        assert!(moved, "sensor 3 takes readings too");

        assert!(matches!(object.create(now, 3, BTreeMap::new()), Err(ObjectError::BadValue { .. })));
        let units = BTreeMap::from([(UNITS, single(Value::String("K".into())))]);
        assert!(matches!(object.create(now, 4, units), Err(ObjectError::NotAllowed(_))));
        object.delete(3).expect("delete sensor 3");
        assert_eq!(object.delete(3), Err(ObjectError::NotFound(Path::Instance(TEMPERATURE, 3))));
        assert_eq!(object.delete(0), Err(ObjectError::NotAllowed(Path::Instance(TEMPERATURE, 0))));
        assert_eq!(object.instances(), vec![0]);
        for i in 1..MAX_SENSORS {
            object.create(now, u16::try_from(i).expect("small"), BTreeMap::new()).expect("room for more");
        }
        assert!(matches!(object.create(now, 99, BTreeMap::new()), Err(ObjectError::BadValue { .. })));
    }

    #[test]
    fn switching_the_light_is_visible_and_counts_on_time() {
        let now = Instant::now();
        let s = shared(now);
        let mut light = LightObject(s);
        let on = ResourceChange { resource: ON_OFF, value: Some(single(Value::Boolean(true))) };
        light.write(now, 0, vec![on]).expect("switch on");
        let later = light.read(now + Duration::from_secs(5), 0).expect("instance 0");
        assert_eq!(later.get(&ON_OFF), Some(&single(Value::Boolean(true))));
        assert_eq!(later.get(&ON_TIME), Some(&single(Value::Integer(5))));
        let bad_dimmer = ResourceChange { resource: DIMMER, value: Some(single(Value::Integer(101))) };
        assert!(matches!(light.write(now, 0, vec![bad_dimmer]), Err(ObjectError::BadValue { .. })));
    }

    #[test]
    fn a_replace_leaving_optional_light_resources_out_resets_them() {
        let now = Instant::now();
        let mut light = LightObject(shared(now));
        let set = |resource, value| ResourceChange { resource, value: Some(single(value)) };
        let custom = vec![set(DIMMER, Value::Integer(40)), set(COLOUR, Value::String("red".into()))];
        light.write(now, 0, custom).expect("custom values");
        let replace = vec![
            set(ON_OFF, Value::Boolean(true)),
            ResourceChange { resource: DIMMER, value: None },
            ResourceChange { resource: COLOUR, value: None },
            ResourceChange { resource: ON_TIME, value: None },
        ];
        light.write(now, 0, replace).expect("a replace without the optional resources");
        let values = light.read(now, 0).expect("instance 0");
        assert_eq!(values.get(&DIMMER), Some(&single(Value::Integer(FACTORY_DIMMER))));
        assert_eq!(values.get(&COLOUR), Some(&single(Value::String(FACTORY_COLOUR.into()))));
        assert_eq!(values.get(&ON_OFF), Some(&single(Value::Boolean(true))));
        let remove_on_off = vec![ResourceChange { resource: ON_OFF, value: None }];
        assert!(matches!(light.write(now, 0, remove_on_off), Err(ObjectError::NotAllowed(_))));
    }

    #[test]
    fn an_empty_uri_cancels_a_running_update() {
        let now = Instant::now();
        let mut fw = FirmwareObject(shared(now));
        let package = firmware::Package::build("2.0", b"img");
        let push = ResourceChange { resource: 0, value: Some(single(Value::Opaque(package))) };
        fw.write(now, 0, vec![push]).expect("push");
        fw.execute(now, 0, firmware::UPDATE, &ExecuteArguments::new()).expect("update");
        let cancel = ResourceChange { resource: 1, value: Some(single(Value::String(String::new()))) };
        fw.write(now, 0, vec![cancel]).expect("an empty uri is always accepted");
        let values = fw.read(now, 0).expect("instance 0");
        assert_eq!(values.get(&firmware::STATE), Some(&single(Value::Integer(0))));
        assert_eq!(lock(&fw.0).firmware.update_due(), None);
    }

    #[test]
    fn firmware_refuses_a_new_package_while_updating() {
        let now = Instant::now();
        let s = shared(now);
        let mut fw = FirmwareObject(s);
        let package = firmware::Package::build("2.0", b"img");
        let push = || ResourceChange { resource: 0, value: Some(single(Value::Opaque(package.clone()))) };
        fw.write(now, 0, vec![push()]).expect("push");
        fw.execute(now, 0, firmware::UPDATE, &ExecuteArguments::new()).expect("update");
        assert!(matches!(fw.write(now, 0, vec![push()]), Err(ObjectError::NotAllowed(_))));
        let values = fw.read(now, 0).expect("instance 0");
        assert_eq!(values.get(&firmware::STATE), Some(&single(Value::Integer(3))));
    }
}
