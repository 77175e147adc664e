//! Object models: the bundled DDF files and a user directory of DDF files (Core TS §7.1,
//! Gateway TS 1.1 for object 25 version 2.0).

use std::error::Error as _;
use std::fs;
use std::path::PathBuf;

use lwm2m::model::{ddf, DdfError, LoadError};
use lwm2m::{DataType, Operations, Path, Registry};

const R: Operations = Operations { read: true, write: false, execute: false };
const W: Operations = Operations { read: false, write: true, execute: false };
const RW: Operations = Operations { read: true, write: true, execute: false };
const E: Operations = Operations { read: false, write: false, execute: true };
const NONE: Operations = Operations { read: false, write: false, execute: false };

/// A fresh, empty directory under the target's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lwm2m-model-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts one resource's full signature.
#[track_caller]
fn assert_resource(
    registry: &Registry,
    (object, id): (u16, u16),
    name: &str,
    operations: Operations,
    multiple: bool,
    mandatory: bool,
    data_type: DataType,
) {
    let r = registry.resource(object, id).unwrap_or_else(|| panic!("/{object}/x/{id} missing"));
    assert_eq!(
        (r.name.as_str(), r.operations, r.multiple, r.mandatory, r.data_type),
        (name, operations, multiple, mandatory, data_type),
        "/{object}/x/{id}"
    );
}

#[test]
fn every_bundled_object_is_present_with_its_version() {
    let registry = Registry::bundled();
    let expected = [
        (0, "LWM2M Security", "1.2", true, true),
        (1, "LwM2M Server", "1.2", true, true),
        (2, "LwM2M Access Control", "1.1", true, false),
        (3, "Device", "1.2", false, true),
        (4, "Connectivity Monitoring", "1.3", false, false),
        (5, "Firmware Update", "1.2", false, false),
        (9, "LWM2M Software Management", "1.0", true, false),
        (25, "LwM2M Gateway", "2.0", true, false),
        (3300, "Generic Sensor", "1.1", true, false),
        (3301, "Illuminance", "1.1", true, false),
        (3302, "Presence", "1.1", true, false),
        (3303, "Temperature", "1.1", true, false),
        (3304, "Humidity", "1.1", true, false),
        (3306, "Actuation", "1.1", true, false),
        (3311, "Light Control", "1.0", true, false),
        (3323, "Pressure", "1.1", true, false),
        (3342, "On/Off switch", "1.1", true, false),
        (3347, "Push button", "1.1", true, false),
    ];
    for (id, name, version, multiple, mandatory) in expected {
        let o = registry.object(id).unwrap_or_else(|| panic!("object {id} missing"));
        assert_eq!(
            (o.name.as_str(), o.version.as_str(), o.multiple, o.mandatory),
            (name, version, multiple, mandatory),
            "object {id}"
        );
        assert!(!o.resources.is_empty(), "object {id} has no resources");
    }
    assert_eq!(registry.len(), expected.len());
}

#[test]
fn bundled_resource_counts_match_the_registry_tables() {
    let registry = Registry::bundled();
    for (object, count) in
        [(0, 31), (1, 28), (2, 4), (3, 23), (4, 14), (5, 14), (9, 19), (25, 3), (3303, 12), (3311, 8)]
    {
        assert_eq!(registry.object(object).unwrap().resources.len(), count, "object {object}");
    }
}

#[test]
fn device_object_resources_have_their_registry_signatures() {
    let reg = Registry::bundled();
    assert_resource(&reg, (3, 0), "Manufacturer", R, false, false, DataType::String);
    assert_resource(&reg, (3, 4), "Reboot", E, false, true, DataType::None);
    assert_resource(&reg, (3, 6), "Available Power Sources", R, true, false, DataType::Integer);
    assert_resource(&reg, (3, 11), "Error Code", R, true, true, DataType::Integer);
    assert_resource(&reg, (3, 13), "Current Time", RW, false, false, DataType::Time);
    assert_resource(&reg, (3, 16), "Supported Binding and Modes", R, false, true, DataType::String);
    assert_resource(&reg, (3, 22), "ExtDevInfo", R, true, false, DataType::ObjLnk);
    assert_eq!(reg.object(3).unwrap().urn, "urn:oma:lwm2m:oma:3:1.2");
}

#[test]
fn core_object_key_resources_have_their_registry_signatures() {
    let reg = Registry::bundled();
    assert_resource(&reg, (0, 0), "LWM2M  Server URI", NONE, false, true, DataType::String);
    assert_resource(&reg, (0, 3), "Public Key or Identity", NONE, false, true, DataType::Opaque);
    assert_resource(&reg, (0, 13), "Matching Type", NONE, false, false, DataType::Unsigned);
    assert_resource(&reg, (0, 16), "DTLS/TLS Ciphersuite", NONE, true, false, DataType::Unsigned);
    assert!(reg.object(0).unwrap().resources.values().all(|r| r.operations.is_bootstrap_only()));
    assert_resource(&reg, (1, 0), "Short Server ID", R, false, true, DataType::Integer);
    assert_resource(&reg, (1, 1), "Lifetime", RW, false, true, DataType::Integer);
    assert_resource(&reg, (1, 8), "Registration Update Trigger", E, false, true, DataType::None);
    assert_resource(&reg, (1, 23), "Mute Send", RW, false, false, DataType::Boolean);
    assert_resource(&reg, (1, 25), "Supported Server Versions", RW, true, false, DataType::String);
    assert_resource(&reg, (2, 2), "ACL", RW, true, false, DataType::Integer);
    assert_resource(&reg, (4, 4), "IP Addresses", R, true, true, DataType::String);
    assert_resource(&reg, (5, 0), "Package", W, false, true, DataType::Opaque);
    assert_resource(&reg, (5, 13), "Maximum Defer Period", RW, false, false, DataType::Unsigned);
    assert!(reg.resource(5, 4).is_none(), "/5/x/4 is not in version 1.2");
    assert_resource(&reg, (9, 17), "Software Component Link", R, true, false, DataType::ObjLnk);
}

#[test]
fn gateway_object_is_version_2_0_without_resource_2() {
    let reg = Registry::bundled();
    let gw = reg.object(25).unwrap();
    assert_eq!((gw.version.as_str(), gw.lwm2m_version.as_str()), ("2.0", "1.1"));
    assert_eq!(gw.resources.keys().copied().collect::<Vec<_>>(), [0, 1, 3]);
    assert_resource(&reg, (25, 0), "Device ID", R, false, true, DataType::String);
    assert_resource(&reg, (25, 1), "Prefix", R, false, true, DataType::String);
    assert_resource(&reg, (25, 3), "IoT Device Objects", R, false, true, DataType::CoreLnk);
}

#[test]
fn ipso_objects_have_their_registry_signatures() {
    let reg = Registry::bundled();
    assert_resource(&reg, (3303, 5700), "Sensor Value", R, false, true, DataType::Float);
    assert_resource(&reg, (3303, 5701), "Sensor Units", R, false, false, DataType::String);
    assert_resource(&reg, (3303, 5605), "Reset Min and Max Measured Values", E, false, false, DataType::None);
    assert_resource(&reg, (3303, 5518), "Timestamp", R, false, false, DataType::Time);
    assert_resource(&reg, (3311, 5850), "On/Off", RW, false, true, DataType::Boolean);
    assert_resource(&reg, (3311, 5851), "Dimmer", RW, false, false, DataType::Integer);
    assert_resource(&reg, (3311, 5706), "Colour", RW, false, false, DataType::String);
    assert_resource(&reg, (3342, 5500), "Digital Input State", R, false, true, DataType::Boolean);
    assert_resource(&reg, (3347, 5750), "Application Type", RW, false, false, DataType::String);
    assert_eq!(reg.object(3303).unwrap().urn, "urn:oma:lwm2m:ext:3303:1.1");
}

#[test]
fn registry_answers_types_and_multiplicity_by_path() {
    let reg = Registry::bundled();
    assert_eq!(reg.data_type(&Path::Resource(3303, 4, 5700)), Some(DataType::Float));
    assert_eq!(reg.data_type(&Path::ResourceInstance(3, 0, 11, 2)), Some(DataType::Integer));
    assert_eq!(reg.is_multiple(&Path::Resource(3, 0, 11)), Some(true));
    assert_eq!(reg.is_multiple(&Path::Resource(3, 0, 0)), Some(false));
    assert_eq!(reg.data_type(&Path::Resource(3, 0, 999)), None);
    assert_eq!(reg.data_type(&Path::Instance(3, 0)), None);
}

#[test]
fn bundled_registry_is_a_copy_that_callers_may_change() {
    let mut mine = Registry::bundled();
    mine.insert(ddf::parse(&custom_device("9.9")).unwrap().remove(0));
    assert_eq!(mine.object(3).unwrap().version, "9.9");
    assert_eq!(Registry::bundled().object(3).unwrap().version, "1.2");
}

/// A one-resource Device object of the given version.
fn custom_device(version: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Object ObjectType="MODefinition">
    <Name>My Device</Name><Description1><![CDATA[Device <custom>]]></Description1>
    <ObjectID>3</ObjectID><ObjectURN>urn:oma:lwm2m:oma:3:{version}</ObjectURN>
    <ObjectVersion>{version}</ObjectVersion>
    <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
    <Resources>
      <Item ID="0"><Name>Maker</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>String</Type><RangeEnumeration/><Units/><Description/></Item>
    </Resources>
  </Object>
</LWM2M>"#
    )
}

#[test]
fn a_user_directory_replaces_a_bundled_object_and_adds_new_ones() {
    let dir = temp_dir("replace");
    fs::write(dir.join("3.xml"), custom_device("1.3")).unwrap();
    let vendor = custom_device("1.0").replace("<ObjectID>3</ObjectID>", "<ObjectID>32769</ObjectID>");
    fs::write(dir.join("vendor.XML"), vendor).unwrap();
    fs::write(dir.join("notes.txt"), "not a model").unwrap();
    fs::create_dir(dir.join("sub.xml")).unwrap();

    let mut registry = Registry::bundled();
    assert_eq!(registry.load_dir(&dir).unwrap(), 2);
    let device = registry.object(3).unwrap();
    assert_eq!((device.name.as_str(), device.version.as_str()), ("My Device", "1.3"));
    assert_eq!(device.description, "Device <custom>");
    assert_eq!(device.resources.len(), 1);
    assert_resource(&registry, (3, 0), "Maker", RW, false, true, DataType::String);
    assert!(registry.object(32769).is_some());
    assert!(registry.object(3303).is_some(), "other bundled objects stay");

    let with = Registry::with_dir(&dir).unwrap();
    assert_eq!(with.object(3).unwrap().version, "1.3");
    assert_eq!(with.len(), Registry::bundled().len() + 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_broken_file_is_named_and_leaves_the_registry_unchanged() {
    let dir = temp_dir("broken");
    fs::write(dir.join("3.xml"), custom_device("1.3")).unwrap();
    let broken = custom_device("1.0")
        .replace("<ObjectID>3</ObjectID>", "<ObjectID>3303</ObjectID>")
        .replace("<Type>String</Type>", "<Type>Flaot</Type>");
    fs::write(dir.join("temp.xml"), broken).unwrap();

    let mut registry = Registry::bundled();
    let err = registry.load_dir(&dir).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("temp.xml"), "{err}");
    assert_eq!(err.source().unwrap().to_string(), "object 3303: resource 0: unknown type \"Flaot\"");
    assert_eq!(registry.object(3).unwrap().version, "1.2", "nothing loaded on error");
    assert!(Registry::with_dir(&dir).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_files_defining_one_object_are_refused() {
    let dir = temp_dir("duplicate");
    fs::write(dir.join("a.xml"), custom_device("1.3")).unwrap();
    fs::write(dir.join("b.xml"), custom_device("1.4")).unwrap();
    let err = Registry::bundled().load_dir(&dir).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("object 3 is defined in both") && text.contains("a.xml") && text.contains("b.xml"),
        "{text}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_directory_and_non_utf8_files_are_errors() {
    let parent = temp_dir("missing");
    let err = Registry::bundled().load_dir(&parent.join("nope")).unwrap_err();
    assert!(matches!(err, LoadError::ReadDir { .. }) && err.to_string().contains("nope"), "{err}");
    fs::remove_dir_all(&parent).unwrap();

    let dir = temp_dir("latin1");
    fs::write(dir.join("x.xml"), b"<LWM2M>\xe9</LWM2M>").unwrap();
    let err = Registry::bundled().load_dir(&dir).unwrap_err();
    assert!(matches!(err, LoadError::NotUtf8 { .. }) && err.to_string().contains("x.xml"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_with_a_dtd_or_an_entity_is_refused() {
    let dir = temp_dir("dtd");
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE LWM2M [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n<LWM2M>&b;</LWM2M>";
    fs::write(dir.join("bomb.xml"), bomb).unwrap();
    let err = Registry::bundled().load_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("bomb.xml"), "{err}");
    assert_eq!(err.source().unwrap().to_string(), DdfError::Dtd.to_string());

    let external = custom_device("1.0").replace("<Name>Maker</Name>", "<Name>&xxe;</Name>");
    assert_eq!(ddf::parse(&external).unwrap_err(), DdfError::Entity { name: "xxe".into() });
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_byte_order_mark_and_predefined_entities_are_accepted() {
    let xml = format!("\u{feff}{}", custom_device("1.0").replace("<Name>Maker</Name>", "<Name>A &amp; B</Name>"));
    let models = ddf::parse(&xml).unwrap();
    assert_eq!(models[0].resources[&0].name, "A & B");
}

#[test]
fn mutated_model_files_never_panic() {
    let seed = custom_device("1.0");
    let alphabet = b"<>/=\"&;!x0 \xc3\xa9";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut errors = 0;
    for _ in 0..3_000 {
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..=next(3) {
            let at = next(bytes.len());
            bytes[at] = alphabet[next(alphabet.len())];
        }
        if let Ok(text) = String::from_utf8(bytes) {
            errors += usize::from(ddf::parse(&text).is_err());
        }
    }
    assert!(errors > 100, "mutations should break many files ({errors})");
}

#[test]
fn bundled_ref_and_bundled_agree() {
    assert!(std::ptr::eq(Registry::bundled_ref(), Registry::bundled_ref()));
    assert_eq!(Registry::bundled_ref().len(), Registry::bundled().len());
}
