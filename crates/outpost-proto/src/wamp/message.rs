//! WAMP v2 basic-profile messages and their `wamp.2.json` codec: one JSON array per
//! frame, `[type, ...]`, with the element order of the spec's section "Message Definitions".

use serde_json::{json, Value};

use super::{WampError, MAX_FRAME_BYTES, MAX_ID};

/// A WAMP `dict` (details, options, extra, kwargs).
pub type Dict = serde_json::Map<String, Value>;

/// The message type codes we speak.
pub mod kind {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const YIELD: u64 = 70;
}

/// Positional and keyword arguments. On the wire both are optional trailing elements:
/// we omit `kwargs` when empty and `args` when both are empty, so a decoded message
/// re-encodes to the same value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    pub args: Vec<Value>,
    pub kwargs: Dict,
}

impl Payload {
    pub fn args(args: Vec<Value>) -> Payload {
        Payload {
            args,
            kwargs: Dict::new(),
        }
    }

    fn push_onto(&self, out: &mut Vec<Value>) {
        if !self.kwargs.is_empty() {
            out.push(Value::Array(self.args.clone()));
            out.push(Value::Object(self.kwargs.clone()));
        } else if !self.args.is_empty() {
            out.push(Value::Array(self.args.clone()));
        }
    }
}

/// One WAMP message. Ids are in `[0, 2^53]`; URIs are non-empty strings without whitespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Hello {
        realm: String,
        details: Dict,
    },
    Welcome {
        session: u64,
        details: Dict,
    },
    Abort {
        details: Dict,
        reason: String,
    },
    Challenge {
        method: String,
        extra: Dict,
    },
    Authenticate {
        signature: String,
        extra: Dict,
    },
    Goodbye {
        details: Dict,
        reason: String,
    },
    Error {
        request_type: u64,
        request: u64,
        details: Dict,
        error: String,
        payload: Payload,
    },
    Publish {
        request: u64,
        options: Dict,
        topic: String,
        payload: Payload,
    },
    Published {
        request: u64,
        publication: u64,
    },
    Subscribe {
        request: u64,
        options: Dict,
        topic: String,
    },
    Subscribed {
        request: u64,
        subscription: u64,
    },
    Unsubscribe {
        request: u64,
        subscription: u64,
    },
    Unsubscribed {
        request: u64,
    },
    Event {
        subscription: u64,
        publication: u64,
        details: Dict,
        payload: Payload,
    },
    Call {
        request: u64,
        options: Dict,
        procedure: String,
        payload: Payload,
    },
    Result {
        request: u64,
        details: Dict,
        payload: Payload,
    },
    Register {
        request: u64,
        options: Dict,
        procedure: String,
    },
    Registered {
        request: u64,
        registration: u64,
    },
    Unregister {
        request: u64,
        registration: u64,
    },
    /// A router-initiated UNREGISTERED has request 0 and `details.registration`.
    Unregistered {
        request: u64,
        details: Dict,
    },
    Invocation {
        request: u64,
        registration: u64,
        details: Dict,
        payload: Payload,
    },
    Yield {
        request: u64,
        options: Dict,
        payload: Payload,
    },
}

/// The HELLO details of a client that calls, registers, publishes and subscribes, and
/// authenticates as `authid` with `authmethods` (Reagent: `["wampcra"]`).
pub fn hello_details(authid: &str, authmethods: &[&str]) -> Dict {
    let mut d = Dict::new();
    d.insert(
        "roles".into(),
        json!({
            "caller": {"features": {"call_timeout": true}},
            "callee": {"features": {}},
            "publisher": {"features": {}},
            "subscriber": {"features": {}},
        }),
    );
    d.insert("authid".into(), Value::String(authid.to_owned()));
    d.insert("authmethods".into(), json!(authmethods));
    d
}

/// Reads a decoded array element by element, naming the message in each error.
struct Fields {
    message: &'static str,
    items: std::vec::IntoIter<Value>,
}

impl Fields {
    fn shape(&self, what: &'static str) -> WampError {
        WampError::Shape {
            message: self.message,
            what,
        }
    }

    fn next(&mut self, what: &'static str) -> Result<Value, WampError> {
        self.items.next().ok_or_else(|| self.shape(what))
    }

    fn id(&mut self, what: &'static str) -> Result<u64, WampError> {
        match self.next(what)? {
            Value::Number(n) => match n.as_u64() {
                Some(id) if id <= MAX_ID => Ok(id),
                _ => Err(self.shape(what)),
            },
            _ => Err(self.shape(what)),
        }
    }

    fn dict(&mut self, what: &'static str) -> Result<Dict, WampError> {
        match self.next(what)? {
            Value::Object(d) => Ok(d),
            _ => Err(self.shape(what)),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, WampError> {
        match self.next(what)? {
            Value::String(s) => Ok(s),
            _ => Err(self.shape(what)),
        }
    }

    fn uri(&mut self, what: &'static str) -> Result<String, WampError> {
        let s = self.string(what)?;
        if valid_uri(&s) {
            Ok(s)
        } else {
            Err(self.shape(what))
        }
    }

    /// The optional trailing `args` list and `kwargs` dict.
    fn payload(&mut self) -> Result<Payload, WampError> {
        let mut p = Payload::default();
        match self.items.next() {
            None => return Ok(p),
            Some(Value::Array(a)) => p.args = a,
            Some(_) => return Err(self.shape("arguments must be a list")),
        }
        match self.items.next() {
            None => return Ok(p),
            Some(Value::Object(d)) => p.kwargs = d,
            Some(_) => return Err(self.shape("keyword arguments must be a dict")),
        }
        self.end()?;
        Ok(p)
    }

    /// The optional trailing dict (UNREGISTERED's details).
    fn optional_dict(&mut self, what: &'static str) -> Result<Dict, WampError> {
        match self.items.next() {
            None => Ok(Dict::new()),
            Some(Value::Object(d)) => {
                self.end()?;
                Ok(d)
            }
            Some(_) => Err(self.shape(what)),
        }
    }

    fn end(&mut self) -> Result<(), WampError> {
        match self.items.next() {
            None => Ok(()),
            Some(_) => Err(self.shape("too many elements")),
        }
    }
}

/// A URI as the spec's loose rule has it: non-empty, no whitespace.
pub(crate) fn valid_uri(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

fn name_of(code: u64) -> Option<&'static str> {
    Some(match code {
        kind::HELLO => "HELLO",
        kind::WELCOME => "WELCOME",
        kind::ABORT => "ABORT",
        kind::CHALLENGE => "CHALLENGE",
        kind::AUTHENTICATE => "AUTHENTICATE",
        kind::GOODBYE => "GOODBYE",
        kind::ERROR => "ERROR",
        kind::PUBLISH => "PUBLISH",
        kind::PUBLISHED => "PUBLISHED",
        kind::SUBSCRIBE => "SUBSCRIBE",
        kind::SUBSCRIBED => "SUBSCRIBED",
        kind::UNSUBSCRIBE => "UNSUBSCRIBE",
        kind::UNSUBSCRIBED => "UNSUBSCRIBED",
        kind::EVENT => "EVENT",
        kind::CALL => "CALL",
        kind::RESULT => "RESULT",
        kind::REGISTER => "REGISTER",
        kind::REGISTERED => "REGISTERED",
        kind::UNREGISTER => "UNREGISTER",
        kind::UNREGISTERED => "UNREGISTERED",
        kind::INVOCATION => "INVOCATION",
        kind::YIELD => "YIELD",
        _ => return None,
    })
}

impl Message {
    /// Decodes one `wamp.2.json` frame.
    pub fn decode(bytes: &[u8]) -> Result<Message, WampError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(WampError::TooLarge(bytes.len()));
        }
        // serde_json's recursion limit (128) bounds nesting, so deep input is an error.
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| WampError::Malformed(crate::bounded(&e.to_string())))?;
        let Value::Array(items) = v else {
            return Err(WampError::NotAMessage);
        };
        let mut items = items.into_iter();
        let code = match items.next() {
            Some(Value::Number(n)) => n.as_u64().ok_or(WampError::NotAMessage)?,
            _ => return Err(WampError::NotAMessage),
        };
        let message = name_of(code).ok_or(WampError::UnknownType(code))?;
        let mut f = Fields { message, items };
        let m = match code {
            kind::HELLO => Message::Hello {
                realm: f.uri("realm must be a URI")?,
                details: f.dict("details must be a dict")?,
            },
            kind::WELCOME => Message::Welcome {
                session: f.id("session must be an id")?,
                details: f.dict("details must be a dict")?,
            },
            kind::ABORT => Message::Abort {
                details: f.dict("details must be a dict")?,
                reason: f.uri("reason must be a URI")?,
            },
            kind::CHALLENGE => Message::Challenge {
                method: f.string("authmethod must be a string")?,
                extra: f.dict("extra must be a dict")?,
            },
            kind::AUTHENTICATE => Message::Authenticate {
                signature: f.string("signature must be a string")?,
                extra: f.dict("extra must be a dict")?,
            },
            kind::GOODBYE => Message::Goodbye {
                details: f.dict("details must be a dict")?,
                reason: f.uri("reason must be a URI")?,
            },
            kind::ERROR => Message::Error {
                request_type: f.id("request type must be an integer")?,
                request: f.id("request must be an id")?,
                details: f.dict("details must be a dict")?,
                error: f.uri("error must be a URI")?,
                payload: f.payload()?,
            },
            kind::PUBLISH => Message::Publish {
                request: f.id("request must be an id")?,
                options: f.dict("options must be a dict")?,
                topic: f.uri("topic must be a URI")?,
                payload: f.payload()?,
            },
            kind::PUBLISHED => Message::Published {
                request: f.id("request must be an id")?,
                publication: f.id("publication must be an id")?,
            },
            kind::SUBSCRIBE => Message::Subscribe {
                request: f.id("request must be an id")?,
                options: f.dict("options must be a dict")?,
                topic: f.uri("topic must be a URI")?,
            },
            kind::SUBSCRIBED => Message::Subscribed {
                request: f.id("request must be an id")?,
                subscription: f.id("subscription must be an id")?,
            },
            kind::UNSUBSCRIBE => Message::Unsubscribe {
                request: f.id("request must be an id")?,
                subscription: f.id("subscription must be an id")?,
            },
            kind::UNSUBSCRIBED => Message::Unsubscribed {
                request: f.id("request must be an id")?,
            },
            kind::EVENT => Message::Event {
                subscription: f.id("subscription must be an id")?,
                publication: f.id("publication must be an id")?,
                details: f.dict("details must be a dict")?,
                payload: f.payload()?,
            },
            kind::CALL => Message::Call {
                request: f.id("request must be an id")?,
                options: f.dict("options must be a dict")?,
                procedure: f.uri("procedure must be a URI")?,
                payload: f.payload()?,
            },
            kind::RESULT => Message::Result {
                request: f.id("request must be an id")?,
                details: f.dict("details must be a dict")?,
                payload: f.payload()?,
            },
            kind::REGISTER => Message::Register {
                request: f.id("request must be an id")?,
                options: f.dict("options must be a dict")?,
                procedure: f.uri("procedure must be a URI")?,
            },
            kind::REGISTERED => Message::Registered {
                request: f.id("request must be an id")?,
                registration: f.id("registration must be an id")?,
            },
            kind::UNREGISTER => Message::Unregister {
                request: f.id("request must be an id")?,
                registration: f.id("registration must be an id")?,
            },
            kind::UNREGISTERED => Message::Unregistered {
                request: f.id("request must be an id")?,
                details: f.optional_dict("details must be a dict")?,
            },
            kind::INVOCATION => Message::Invocation {
                request: f.id("request must be an id")?,
                registration: f.id("registration must be an id")?,
                details: f.dict("details must be a dict")?,
                payload: f.payload()?,
            },
            kind::YIELD => Message::Yield {
                request: f.id("request must be an id")?,
                options: f.dict("options must be a dict")?,
                payload: f.payload()?,
            },
            _ => return Err(WampError::UnknownType(code)),
        };
        // Messages with a payload checked their own end; the rest check it here.
        f.end()?;
        Ok(m)
    }

    /// The message type code.
    pub fn kind(&self) -> u64 {
        match self {
            Message::Hello { .. } => kind::HELLO,
            Message::Welcome { .. } => kind::WELCOME,
            Message::Abort { .. } => kind::ABORT,
            Message::Challenge { .. } => kind::CHALLENGE,
            Message::Authenticate { .. } => kind::AUTHENTICATE,
            Message::Goodbye { .. } => kind::GOODBYE,
            Message::Error { .. } => kind::ERROR,
            Message::Publish { .. } => kind::PUBLISH,
            Message::Published { .. } => kind::PUBLISHED,
            Message::Subscribe { .. } => kind::SUBSCRIBE,
            Message::Subscribed { .. } => kind::SUBSCRIBED,
            Message::Unsubscribe { .. } => kind::UNSUBSCRIBE,
            Message::Unsubscribed { .. } => kind::UNSUBSCRIBED,
            Message::Event { .. } => kind::EVENT,
            Message::Call { .. } => kind::CALL,
            Message::Result { .. } => kind::RESULT,
            Message::Register { .. } => kind::REGISTER,
            Message::Registered { .. } => kind::REGISTERED,
            Message::Unregister { .. } => kind::UNREGISTER,
            Message::Unregistered { .. } => kind::UNREGISTERED,
            Message::Invocation { .. } => kind::INVOCATION,
            Message::Yield { .. } => kind::YIELD,
        }
    }

    /// The message's name as the spec spells it (`"CALL"`), for logs.
    pub fn name(&self) -> &'static str {
        name_of(self.kind()).unwrap_or("?")
    }

    /// Encodes as one `wamp.2.json` text frame.
    pub fn encode(&self) -> String {
        let d = |d: &Dict| Value::Object(d.clone());
        let s = |s: &String| Value::String(s.clone());
        let mut out = vec![json!(self.kind())];
        match self {
            Message::Hello { realm, details } => out.extend([s(realm), d(details)]),
            Message::Welcome { session, details } => out.extend([json!(session), d(details)]),
            Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
                out.extend([d(details), s(reason)])
            }
            Message::Challenge { method, extra } => out.extend([s(method), d(extra)]),
            Message::Authenticate { signature, extra } => out.extend([s(signature), d(extra)]),
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                out.extend([json!(request_type), json!(request), d(details), s(error)]);
                payload.push_onto(&mut out);
            }
            Message::Publish {
                request,
                options,
                topic: uri,
                payload,
            }
            | Message::Call {
                request,
                options,
                procedure: uri,
                payload,
            } => {
                out.extend([json!(request), d(options), s(uri)]);
                payload.push_onto(&mut out);
            }
            Message::Subscribe {
                request,
                options,
                topic: uri,
            }
            | Message::Register {
                request,
                options,
                procedure: uri,
            } => out.extend([json!(request), d(options), s(uri)]),
            Message::Published {
                request,
                publication: id,
            }
            | Message::Subscribed {
                request,
                subscription: id,
            }
            | Message::Unsubscribe {
                request,
                subscription: id,
            }
            | Message::Registered {
                request,
                registration: id,
            }
            | Message::Unregister {
                request,
                registration: id,
            } => out.extend([json!(request), json!(id)]),
            Message::Unsubscribed { request } => out.push(json!(request)),
            Message::Unregistered { request, details } => {
                out.push(json!(request));
                if !details.is_empty() {
                    out.push(d(details));
                }
            }
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => {
                out.extend([json!(subscription), json!(publication), d(details)]);
                payload.push_onto(&mut out);
            }
            Message::Result {
                request,
                details,
                payload,
            } => {
                out.extend([json!(request), d(details)]);
                payload.push_onto(&mut out);
            }
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => {
                out.extend([json!(request), json!(registration), d(details)]);
                payload.push_onto(&mut out);
            }
            Message::Yield {
                request,
                options,
                payload,
            } => {
                out.extend([json!(request), d(options)]);
                payload.push_onto(&mut out);
            }
        }
        Value::Array(out).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_decodes_a_crossbar_welcome() {
        let m = Message::decode(
            br#"[2, 4815162342, {"authid": "1-2", "authrole": "device", "authmethod": "wampcra", "roles": {"broker": {}, "dealer": {}}}]"#,
        );
        let Ok(Message::Welcome { session, details }) = m else {
            panic!("not a WELCOME: {m:?}");
        };
        assert_eq!(session, 4815162342);
        assert_eq!(details["authid"], "1-2");
    }

    #[test]
    fn issue19_rejects_bad_shapes_by_name() {
        for (bytes, want) in [
            (&br#"{"a":1}"#[..], WampError::NotAMessage),
            (br#"[]"#, WampError::NotAMessage),
            (br#"[-1]"#, WampError::NotAMessage),
            (br#"[999, 1]"#, WampError::UnknownType(999)),
            (
                br#"[48, 1.5, {}, "a.b"]"#,
                WampError::Shape {
                    message: "CALL",
                    what: "request must be an id",
                },
            ),
            (
                br#"[48, 9007199254740993, {}, "a.b"]"#,
                WampError::Shape {
                    message: "CALL",
                    what: "request must be an id",
                },
            ),
            (
                br#"[48, 1, {}, "a b"]"#,
                WampError::Shape {
                    message: "CALL",
                    what: "procedure must be a URI",
                },
            ),
            (
                br#"[48, 1, {}, "a.b", {}]"#,
                WampError::Shape {
                    message: "CALL",
                    what: "arguments must be a list",
                },
            ),
            (
                br#"[48, 1, {}, "a.b", [], {}, 3]"#,
                WampError::Shape {
                    message: "CALL",
                    what: "too many elements",
                },
            ),
            (
                br#"[65, 1]"#,
                WampError::Shape {
                    message: "REGISTERED",
                    what: "registration must be an id",
                },
            ),
        ] {
            assert_eq!(
                Message::decode(bytes),
                Err(want),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(matches!(
            Message::decode(b"[48, "),
            Err(WampError::Malformed(_))
        ));
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        assert_eq!(
            Message::decode(&big),
            Err(WampError::TooLarge(MAX_FRAME_BYTES + 1))
        );
    }

    #[test]
    fn issue19_payload_is_omitted_when_empty() {
        let m = Message::Yield {
            request: 7,
            options: Dict::new(),
            payload: Payload::default(),
        };
        assert_eq!(m.encode(), "[70,7,{}]");
        let m = Message::Yield {
            request: 7,
            options: Dict::new(),
            payload: Payload::args(vec![json!("Hello :-)")]),
        };
        assert_eq!(m.encode(), r#"[70,7,{},["Hello :-)"]]"#);
        // An explicit empty list and dict decode to the same message as none at all.
        assert_eq!(
            Message::decode(br#"[70,7,{},[],{}]"#),
            Message::decode(b"[70,7,{}]")
        );
    }
}
