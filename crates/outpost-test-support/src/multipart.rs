//! Reading a `multipart/form-data` body the way a collector's server does (RFC 7578): the
//! boundary from the request's content-type, then each part's headers and bytes. Used by
//! the SocketMan upload tests to take the `data` file out of the POST, gunzip it and read
//! its NDJSON. Panics (failing the test) on a body that is not well formed.

use crate::http::Request;

/// One part of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `name` from content-disposition.
    pub name: String,
    /// `filename`, when the part is a file.
    pub filename: Option<String>,
    /// The part's content-type, when it names one.
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

fn param(disposition: &str, key: &str) -> Option<String> {
    let needle = format!("{key}=\"");
    let at = disposition.find(&needle)? + needle.len();
    let end = disposition[at..].find('"')?;
    Some(disposition[at..at + end].to_owned())
}

/// The parts of `req`'s body; panics when it is not multipart/form-data.
pub fn parts(req: &Request) -> Vec<Part> {
    let ct = req
        .head
        .lines()
        .find_map(|l| l.strip_prefix("content-type:"))
        .expect("a content-type header")
        .trim()
        .to_owned();
    assert!(ct.starts_with("multipart/form-data"), "content-type {ct}");
    // The boundary is case-sensitive: take it from the head as sent.
    let raw_ct = req
        .raw_head
        .lines()
        .find(|l| l.to_lowercase().starts_with("content-type:"))
        .unwrap();
    let boundary = raw_ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"')
        .to_owned();
    let delim = format!("--{boundary}");
    let body = &req.body;
    let find = |from: usize, needle: &[u8]| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at = find(0, delim.as_bytes()).expect("the first boundary") + delim.len();
    let mut out = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return out;
        }
        assert!(body[at..].starts_with(b"\r\n"), "CRLF after a boundary");
        at += 2;
        let head_end = find(at, b"\r\n\r\n").expect("a part's blank line");
        let head = String::from_utf8_lossy(&body[at..head_end]).into_owned();
        let data_start = head_end + 4;
        let next = find(data_start, format!("\r\n{delim}").as_bytes()).expect("a closing boundary");
        let header = |name: &str| {
            head.lines()
                .find(|l| l.to_lowercase().starts_with(name))
                .map(|l| l[name.len()..].trim().to_owned())
        };
        let disposition = header("content-disposition:").expect("content-disposition");
        out.push(Part {
            name: param(&disposition, "name").expect("a name"),
            filename: param(&disposition, "filename"),
            content_type: header("content-type:"),
            data: body[data_start..next].to_vec(),
        });
        at = next + 2 + delim.len();
    }
}

/// The NDJSON lines of the gzip file in part `field`.
pub fn gzip_ndjson(req: &Request, field: &str) -> Vec<serde_json::Value> {
    let part = parts(req)
        .into_iter()
        .find(|p| p.name == field)
        .unwrap_or_else(|| panic!("no part {field:?}"));
    let text = String::from_utf8(crate::gzip::gunzip(&part.data)).expect("UTF-8 NDJSON");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}
