//! `lwm2m-gw decode` / `encode` run as a user would: the real binary, real arguments.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut input = child.stdin.take().expect("stdin piped");
    input.write_all(stdin.unwrap_or_default()).expect("stdin written");
    drop(input);
    child.wait_with_output().expect("binary finishes")
}

fn decode(cf: &str, path: &str, hex: &str) -> Value {
    let out = run(&["decode", "--content-format", cf, "--path", path, "--hex", hex], None);
    assert!(out.status.success(), "decode failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("decode prints JSON")
}

fn encode(cf: &str, path: Option<&str>, input: &Value) -> String {
    let text = input.to_string();
    let mut args = vec!["encode", "--content-format", cf, "--json", &text];
    if let Some(p) = path {
        args.extend(["--path", p]);
    }
    let out = run(&args, None);
    assert!(out.status.success(), "encode failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("hex is ASCII").trim().to_owned()
}

fn fails_with_one_line(args: &[&str], stdin: Option<&[u8]>, needle: &str) {
    let out = run(args, stdin);
    assert_eq!(out.status.code(), Some(1), "exit status for {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line on stderr, got {err:?}");
    assert!(err.contains(needle), "stderr {err:?} should mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn tlv_string_resource_decodes_with_the_bundled_model() {
    let hex = "c800144f70656e204d6f62696c6520416c6c69616e6365";
    assert_eq!(
        decode("11542", "/3/0/0", hex),
        json!([{"path": "/3/0/0", "type": "string", "value": "Open Mobile Alliance"}])
    );
}

#[test]
fn tlv_float32_with_a_16_bit_id_decodes() {
    assert_eq!(
        decode("11542", "/3303/0/5700", "e4164441b40000"),
        json!([{"path": "/3303/0/5700", "type": "float", "value": 22.5}])
    );
}

#[test]
fn tlv_access_control_read_decodes_every_instance() {
    let hex = "08000ec10001c101008302417f07c1037f080212c10003c101008702417f07610136 01c1037f";
    let out = decode("11542", "/2", hex);
    assert_eq!(
        out,
        json!([
            {"path": "/2/0/0", "type": "integer", "value": 1},
            {"path": "/2/0/1", "type": "integer", "value": 0},
            {"path": "/2/0/2/127", "type": "integer", "value": 7},
            {"path": "/2/0/3", "type": "integer", "value": 127},
            {"path": "/2/2/0", "type": "integer", "value": 3},
            {"path": "/2/2/1", "type": "integer", "value": 0},
            {"path": "/2/2/2/127", "type": "integer", "value": 7},
            {"path": "/2/2/2/310", "type": "integer", "value": 1},
            {"path": "/2/2/3", "type": "integer", "value": 127},
        ])
    );
}

#[test]
fn senml_json_read_example_decodes() {
    let payload = r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1}]"#;
    let out = decode("110", "/3/0", &hex::encode(payload));
    assert_eq!(
        out,
        json!([
            {"path": "/3/0/0", "type": "string", "value": "Open Mobile Alliance"},
            {"path": "/3/0/9", "type": "integer", "value": 100},
            {"path": "/3/0/6/0", "type": "integer", "value": 1},
        ])
    );
}

#[test]
fn senml_prefix_and_time_are_reported() {
    let payload = r#"[{"bn":"/d01/3303/0/","bt":1700000000,"n":"5700","v":22.5,"t":-5}]"#;
    let out = decode("110", "/", &hex::encode(payload));
    assert_eq!(
        out,
        json!([{"path": "/3303/0/5700", "prefix": "d01", "type": "float", "value": 22.5, "time": 1699999995}])
    );
}

#[test]
fn lwm2m_cbor_example_decodes() {
    let hex = "a1830300 00 74 4f70656e204d6f62696c6520416c6c69616e6365";
    assert_eq!(
        decode("11544", "/", hex),
        json!([{"path": "/3/0/0", "type": "string", "value": "Open Mobile Alliance"}])
    );
}

#[test]
fn text_and_opaque_and_cbor_single_values_decode() {
    assert_eq!(
        decode("0", "/3303/0/5700", &hex::encode("22.5")),
        json!([{"path": "/3303/0/5700", "type": "float", "value": 22.5}])
    );
    assert_eq!(decode("42", "/5/0/0", "deadbeef"), json!([{"path": "/5/0/0", "type": "opaque", "value": "deadbeef"}]));
    // CBOR unsigned 100 for /3/0/9 (Battery Level, Integer).
    assert_eq!(decode("60", "/3/0/9", "1864"), json!([{"path": "/3/0/9", "type": "integer", "value": 100}]));
}

#[test]
fn oma_json_decodes() {
    let payload = r#"{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"9","v":100}]}"#;
    assert_eq!(
        decode("11543", "/3/0", &hex::encode(payload)),
        json!([
            {"path": "/3/0/0", "type": "string", "value": "Open Mobile Alliance"},
            {"path": "/3/0/9", "type": "integer", "value": 100},
        ])
    );
}

#[test]
fn link_format_decodes_to_links_with_attributes() {
    let payload = r#"</>;rt="oma.lwm2m";ct=110, </1/0>,</3/0>,</25>;ver="2.0""#;
    assert_eq!(
        decode("40", "/", &hex::encode(payload)),
        json!({"links": [
            {"uri": "/", "attributes": [{"name": "rt", "value": "oma.lwm2m"}, {"name": "ct", "value": "110"}]},
            {"uri": "/1/0", "attributes": []},
            {"uri": "/3/0", "attributes": []},
            {"uri": "/25", "attributes": [{"name": "ver", "value": "2.0"}]},
        ]})
    );
}

#[test]
fn every_node_format_round_trips_through_encode_and_decode() {
    let leaves = json!([
        {"path": "/3/0/0", "type": "string", "value": "Open Mobile Alliance"},
        {"path": "/3/0/6/0", "type": "integer", "value": 1},
        {"path": "/3/0/6/1", "type": "integer", "value": 5},
        {"path": "/3/0/9", "type": "integer", "value": -9223372036854775808i64},
        {"path": "/3/0/13", "type": "time", "value": 1700000000},
    ]);
    for cf in ["11542", "110", "112", "11543", "11544"] {
        let hex = encode(cf, Some("/3/0"), &leaves);
        assert_eq!(decode(cf, "/3/0", &hex), leaves, "format {cf}");
    }
    let prefixed = json!([
        {"path": "/3303/0/5700", "prefix": "d01", "type": "float", "value": 22.5},
        {"path": "/3311/0/5850", "prefix": "d01", "type": "boolean", "value": true},
    ]);
    for cf in ["110", "112", "11544"] {
        let hex = encode(cf, None, &prefixed);
        assert_eq!(decode(cf, "/", &hex), prefixed, "format {cf}");
    }
    let single = [
        ("0", json!([{"path": "/3/0/9", "type": "integer", "value": 42}])),
        ("42", json!([{"path": "/5/0/0", "type": "opaque", "value": "00ff10"}])),
        ("60", json!([{"path": "/3303/0/5700", "type": "float", "value": 22.5}])),
        ("60", json!([{"path": "/3/0/9", "type": "integer", "value": 18}])),
    ];
    for (cf, leaf) in single {
        let path = leaf[0]["path"].as_str().expect("path").to_owned();
        let hex = encode(cf, None, &leaf);
        assert_eq!(decode(cf, &path, &hex), leaf, "format {cf}");
    }
}

#[test]
fn unsigned_64_bit_values_stay_exact() {
    let leaf = json!([{"path": "/32768/0/0", "type": "unsigned", "value": 18446744073709551615u64}]);
    for cf in ["112", "11544", "110"] {
        let hex = encode(cf, None, &leaf);
        assert_eq!(decode(cf, "/", &hex)[0]["value"], json!(18446744073709551615u64), "format {cf}");
    }
}

#[test]
fn link_format_round_trips() {
    let links = json!({"links": [
        {"uri": "/", "attributes": [{"name": "rt", "value": "oma.lwm2m"}, {"name": "ct", "value": "110 112"}]},
        {"uri": "/3/0", "attributes": [{"name": "pmin", "value": "10"}]},
    ]});
    let hex = encode("40", None, &links);
    assert_eq!(decode("40", "/", &hex), links);
}

#[test]
fn stdin_and_file_inputs_work() {
    let out = run(&["decode", "-f", "0", "-p", "/3/0/9"], Some(b"77"));
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("lwm2m-gw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("payload.bin");
    std::fs::write(&file, b"77").expect("write payload");
    let out = run(&["decode", "-f", "0", "-p", "/3/0/9", "--file", file.to_str().expect("utf-8 path")], None);
    assert!(out.status.success());
    let value: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value[0]["value"], json!(77));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_exits_1_with_one_clear_line() {
    fails_with_one_line(&["decode", "-f", "11542", "-p", "/3/0", "--hex", "c8 00 14 4f"], None, "tlv");
    fails_with_one_line(&["decode", "-f", "11542", "--hex", "zz"], None, "invalid hex");
    fails_with_one_line(&["decode", "-f", "110", "--hex", &hex::encode("[{\"n\":\"/3/0/0\"")], None, "senml");
    fails_with_one_line(&["decode", "-f", "9999", "--hex", "00"], None, "9999");
    fails_with_one_line(&["decode", "-f", "0", "-p", "/3/0/9", "--hex", &hex::encode("abc")], None, "/3/0/9");
    fails_with_one_line(&["decode", "-f", "11542", "-p", "/3x", "--hex", "00"], None, "--path");
    fails_with_one_line(&["encode", "-f", "110", "--json", "[{\"path\": \"/3/0\"}]"], None, "leaf 0");
    fails_with_one_line(&["encode", "-f", "110", "--json", "nope"], None, "JSON");
}

#[test]
fn user_model_directory_adds_an_object() {
    let dir = std::env::temp_dir().join(format!("lwm2m-gw-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("32769.xml"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Test</Name><Description1>t</Description1>
<ObjectID>32769</ObjectID><ObjectURN>urn:oma:lwm2m:x:32769</ObjectURN><LWM2MVersion>1.1</LWM2MVersion>
<ObjectVersion>1.0</ObjectVersion><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
<Resources><Item ID="1"><Name>Count</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Mandatory</Mandatory><Type>Unsigned Integer</Type><RangeEnumeration></RangeEnumeration><Units></Units>
<Description>c</Description></Item></Resources><Description2></Description2></Object></LWM2M>"#,
    )
    .expect("write model");
    let dir_arg = dir.to_str().expect("utf-8 path");
    let out = run(&["decode", "-f", "11542", "-p", "/32769/0/1", "--model-dir", dir_arg, "--hex", "c10105"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value, json!([{"path": "/32769/0/1", "type": "unsigned", "value": 5}]));
    std::fs::remove_dir_all(&dir).ok();
}
