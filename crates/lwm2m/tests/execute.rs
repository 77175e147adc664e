//! Execute arguments (Core TS 1.2 §6.3.5; spec notes §2.3): `0,1='https://x'`.

use lwm2m::{ExecuteArguments, ExecuteError};

fn parse(text: &str) -> Result<ExecuteArguments, ExecuteError> {
    ExecuteArguments::parse(text.as_bytes())
}

#[test]
fn spec_example_parses_and_encodes_back() {
    let args = parse("0,1='https://x'").unwrap();
    assert_eq!(args.len(), 2);
    assert_eq!(args.get(0), Some(None));
    assert_eq!(args.get(1), Some(Some("https://x")));
    assert_eq!(args.get(2), None);
    assert_eq!(args.encode(), "0,1='https://x'");
}

#[test]
fn an_empty_payload_is_no_argument() {
    let args = parse("").unwrap();
    assert!(args.is_empty());
    assert_eq!(args.encode(), "");
}

#[test]
fn order_is_kept_and_empty_values_are_values() {
    let args = parse("5='',2,9='a=b;c,d'").unwrap();
    let digits: Vec<u8> = args.iter().map(|a| a.digit).collect();
    assert_eq!(digits, [5, 2, 9]);
    assert_eq!(args.get(5), Some(Some("")));
    assert_eq!(args.get(9), Some(Some("a=b;c,d")));
    assert_eq!(args.encode(), "5='',2,9='a=b;c,d'");
}

#[test]
fn arguments_built_by_hand_encode_and_parse_back() {
    let mut args = ExecuteArguments::new();
    args.push(3, Some("coap://[::1]:5683/fw?x=1".into())).unwrap().push(0, None).unwrap();
    assert_eq!(args.encode(), "3='coap://[::1]:5683/fw?x=1',0");
    assert_eq!(ExecuteArguments::parse(args.encode().as_bytes()).unwrap(), args);
}

#[test]
fn malformed_payloads_are_refused_at_their_offset() {
    let cases = [
        ("a", 0, "expected an argument digit"),
        ("10", 1, "expected ',' between arguments"),
        ("0,", 2, "expected an argument after ','"),
        (",0", 0, "expected an argument digit"),
        ("0 ,1", 1, "expected ',' between arguments"),
        (" 0", 0, "expected an argument digit"),
        ("0=x", 2, "expected ' opening the value"),
        ("0=", 2, "expected ' opening the value"),
        ("0='abc", 6, "value not closed by '"),
        ("0='a b'", 4, "character not allowed in a value"),
        ("0='a\"b'", 4, "character not allowed in a value"),
        ("0='a\\b'", 4, "character not allowed in a value"),
        ("0='é'", 3, "character not allowed in a value"),
        ("0='a'b", 5, "expected ',' between arguments"),
        ("0='a''", 5, "expected ',' between arguments"),
        ("0,,1", 2, "expected an argument digit"),
    ];
    for (text, offset, reason) in cases {
        assert_eq!(parse(text), Err(ExecuteError::Malformed { offset, reason }), "{text}");
    }
    assert_eq!(
        ExecuteArguments::parse(b"0='\xff'"),
        Err(ExecuteError::Malformed { offset: 3, reason: "character not allowed in a value" })
    );
}

#[test]
fn a_digit_given_twice_is_refused() {
    assert_eq!(parse("1,1"), Err(ExecuteError::Duplicate(1)));
    assert_eq!(parse("1='a',0,1"), Err(ExecuteError::Duplicate(1)));
    assert_eq!(parse("1,1").unwrap_err().to_string(), "execute argument 1 is given twice");
}

#[test]
fn arguments_that_cannot_be_written_are_refused() {
    let mut args = ExecuteArguments::new();
    assert!(matches!(args.push(10, None), Err(ExecuteError::Unencodable { digit: 10, .. })));
    assert!(matches!(args.push(1, Some("a b".into())), Err(ExecuteError::Unencodable { digit: 1, .. })));
    assert!(matches!(args.push(1, Some("it's".into())), Err(ExecuteError::Unencodable { .. })));
    assert!(args.is_empty(), "a refused argument is not added");
}

#[test]
fn random_payloads_never_panic_and_what_parses_encodes_back_exactly() {
    let alphabet = b"0123456789,='a: /\"\\\xff";
    let mut state: u64 = 0x00e0_ec07_e000_0001;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        usize::try_from(state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64).unwrap()
    };
    let mut accepted = 0;
    for _ in 0..50_000 {
        let len = next(12);
        let payload: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
        if let Ok(args) = ExecuteArguments::parse(&payload) {
            accepted += 1;
            // The grammar has one spelling per argument list.
            assert_eq!(args.encode().as_bytes(), payload.as_slice());
        }
    }
    assert!(accepted > 100, "{accepted}");
}
