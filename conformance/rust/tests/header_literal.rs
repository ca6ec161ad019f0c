//! The header rules `@ldakit/npy` took from Python's `ast.literal_eval` and NumPy (docs/FORMAT.md
//! §3.3 steps 6 and 10): each case here was read, refused with another code, or (100 000 nested
//! lists) overflowed the stack before.

use std::io::Write;
use std::process::{Command, Stdio};

use ldakit_loader::json;
use ldakit_loader::{decode_npy, ErrorCode};

/// NPY bytes of a v1.0 or v2.0 header; `pad` frames it as NumPy does (spaces, `\n`, data at a
/// multiple of 64), otherwise the text is the whole header.
fn npy(header: &str, major: u8, pad: bool, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut text = header.as_bytes().to_vec();
    if pad {
        let total = prefix + text.len() + 1;
        text.extend(std::iter::repeat(b' ').take((64 - total % 64) % 64));
        text.push(b'\n');
    }
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    out
}

fn with_descr(raw: &str) -> String {
    format!("{{'descr': '{}', 'fortran_order': False, 'shape': (3,), }}", raw)
}

fn with_shape(shape: &str) -> String {
    format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", shape)
}

/// `depth` tuples, each holding the next: `(((3,),),)` for 3.
fn nested_tuple(depth: usize) -> String {
    format!("{}3,{})", "(".repeat(depth), "),".repeat(depth - 1))
}

#[test]
fn header_literal_edges() {
    let data: Vec<u8> = [0f32, 1.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let deep = with_shape(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    let cases: Vec<(&str, String, u8, ErrorCode)> = vec![
        ("dict and 63 tuples: 64 levels", with_shape(&nested_tuple(63)), 1, ErrorCode::BadShape),
        ("dict and 64 tuples: 65 levels", with_shape(&nested_tuple(64)), 1, ErrorCode::BadHeader),
        ("lists 100 000 deep", deep, 2, ErrorCode::BadHeader),
        ("escape past U+10FFFF", with_descr(r"\U00110000"), 1, ErrorCode::BadHeader),
        ("lone surrogate", with_descr(r"\ud800"), 1, ErrorCode::UnsupportedDtype),
        ("octal escape", with_descr(r"\074f4"), 1, ErrorCode::BadHeader),
        ("NUL escape then 8 (not octal)", with_descr(r"<f4\08"), 1, ErrorCode::UnsupportedDtype),
        ("CR inside a string", with_descr("<f4\r"), 1, ErrorCode::BadHeader),
        ("two signs", with_shape("(- -3,)"), 1, ErrorCode::BadHeader),
        ("plus then minus", with_shape("(+-3,)"), 1, ErrorCode::BadHeader),
        ("leading zero", with_shape("(03,)"), 1, ErrorCode::BadHeader),
        ("leading zero before _", with_shape("(0_3,)"), 1, ErrorCode::BadHeader),
        ("form feed before 3L", format!("\n\x0c{}", with_shape("(3L,)")), 1, ErrorCode::BadHeader),
        ("lone CR before 3L", format!("\r{}", with_shape("(3L,)")), 1, ErrorCode::BadHeader),
        ("2**53 elements", with_shape("(9007199254740992,)"), 1, ErrorCode::BadShape),
        ("2**53 - 1 elements", with_shape("(9007199254740991,)"), 1, ErrorCode::Truncated),
        ("empty, other axes overflow", with_shape("(2147483648, 0, 3, 2147483648)"), 1, ErrorCode::BadShape),
    ];
    let mut wrong = Vec::new();
    for (name, header, major, code) in cases {
        match decode_npy(&npy(&header, major, true, &data), 300_000) {
            Err(e) if e.code() == Some(code) => {}
            other => wrong.push(format!("{}: got {:?}, expected {:?}", name, other.map(|a| a.shape), code)),
        }
    }
    // -0 is Python's 0, and 00 is a valid int (01 is not).
    match decode_npy(&npy(&with_shape("(-0, 00, 3)"), 1, true, &[]), 10_000) {
        Ok(a) if a.shape == vec![0, 0, 3] => {}
        other => wrong.push(format!("(-0, 00, 3): got {:?}", other.map(|a| a.shape))),
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whitespace, signs and leading zeros as Python's `ast.literal_eval` reads them: outside brackets
/// its tokenizer has line and indent rules, inside any whitespace but a vertical tab goes. Each
/// text is judged by Python itself.
#[test]
fn header_whitespace_as_python_reads_it() {
    let body = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}";
    let before = [
        "",
        " ",
        "\t",
        "\x0c",
        "\n",
        "\r",
        "\r\n",
        " \n ",
        "\n\n",
        "\x0c\n  \n",
        "\t\x0c",
        " \x0c\t",
        "\x0c\t",
        "\n\x0c",
        "\n \x0c",
        "\n\x0c ",
        "\r ",
        " \r ",
        "\x0b",
        "\n\t",
        "\r\n ",
    ];
    let after = [
        "",
        " ",
        "\n",
        "\n  ",
        "\n\x0c",
        "\n \n",
        "\r\n  \r\n",
        "\n\t",
        "\n\t\n",
        "\x0c",
        " \x0c ",
        "\n\x0c ",
        "\n \x0c",
        "\r",
        "\r ",
        "\r\r",
        "\n  \t  ",
        " \r\n \r\n",
        "\nx",
        "\x0b",
        "\n\x0b\n",
    ];
    let mut texts: Vec<String> = before.iter().map(|w| format!("{}{}\n", w, body)).collect();
    texts.extend(after.iter().map(|w| format!("{}{}", body, w)));
    for shape in ["(0, - -1)", "(0, +-1)", "(- 0,)", "(-\n0,)", "(01, 0)", "(00, 0_0)", "(0_1, 0)", "(0, 1_0)"] {
        texts.push(format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}}}", shape));
    }
    texts.push("{\x0c'descr'\r:\n'<f4', 'fortran_order'\t: False,\r\n'shape': (0,)\x0c}".into());
    texts.push("{'descr': '<f4',\x0b'fortran_order': False, 'shape': (0,)}".into());

    let script = "import ast, json, sys\nout = []\nfor t in json.load(sys.stdin):\n    try:\n        \
                  ast.literal_eval(t)\n        out.append(True)\n    except Exception:\n        \
                  out.append(False)\nprint(json.dumps(out))\n";
    // python3 is what the conformance suite's own runner needs; without it this cross-check fails.
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (this test asks Python's ast.literal_eval)");
    let input = format!("[{}]", texts.iter().map(|t| json_string(t)).collect::<Vec<_>>().join(","));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python3 failed");
    let verdicts = json::parse(&String::from_utf8(output.stdout).unwrap()).unwrap();
    let accepts: Vec<bool> = verdicts.as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
    assert_eq!(accepts.len(), texts.len());

    let mut wrong = Vec::new();
    for (text, python) in texts.iter().zip(accepts) {
        // Unpadded: NumPy's padding would end every text with spaces and a newline.
        let got = decode_npy(&npy(text, 1, false, &[]), 10_000);
        if let Err(e) = &got {
            if e.code() != Some(ErrorCode::BadHeader) {
                wrong.push(format!("{:?}: {}, expected BAD_HEADER or a value", text, e));
                continue;
            }
        }
        if got.is_ok() != python {
            wrong.push(format!("{:?}: read {}, ast.literal_eval accepts it: {}", text, got.is_ok(), python));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
