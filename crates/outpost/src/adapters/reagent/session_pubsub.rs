//! The pump's own traffic on a joined [`Session`]: subscriptions (the subscription
//! meta-events that drive log streaming, a terminal's write topic), publications (log
//! batches, terminal output) and registrations of the session's lifetime (a terminal's
//! resize procedure). Each request is tracked with the same deadline as a call; its answer
//! comes back as [`Action::Acked`].

use std::time::Instant;

use outpost_proto::wamp::{Dict, Message, Payload};
use serde_json::json;

use super::{Action, Purpose, Session, CALL_TIMEOUT};

impl Session {
    pub(super) fn acked(
        &mut self,
        request: u64,
        outcome: Result<u64, String>,
        out: &mut Vec<Action>,
    ) {
        if let Some((Purpose::Ack, _)) = self.pending.get(&request) {
            self.pending.remove(&request);
            out.push(Action::Acked { request, outcome });
        }
    }

    fn ack_request(&mut self, purpose: Purpose, now: Instant) -> Option<u64> {
        self.session_id()?;
        let request = self.request_id();
        self.pending.insert(request, (purpose, now + CALL_TIMEOUT));
        Some(request)
    }

    /// SUBSCRIBEs `topic` (exact match); [`Action::Acked`] brings the subscription id.
    /// `None` before WELCOME.
    pub fn subscribe(&mut self, topic: &str, now: Instant) -> Option<(u64, Action)> {
        let request = self.ack_request(Purpose::Ack, now)?;
        let m = Message::Subscribe {
            request,
            options: Dict::new(),
            topic: topic.into(),
        };
        Some((request, Action::Send(m.encode())))
    }

    pub fn unsubscribe(&mut self, subscription: u64, now: Instant) -> Option<(u64, Action)> {
        let request = self.ack_request(Purpose::Ack, now)?;
        let m = Message::Unsubscribe {
            request,
            subscription,
        };
        Some((request, Action::Send(m.encode())))
    }

    /// PUBLISHes `payload` on `topic`; with `acknowledge`, [`Action::Acked`] follows.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: Payload,
        acknowledge: bool,
        now: Instant,
    ) -> Option<(u64, Action)> {
        let request = if acknowledge {
            self.ack_request(Purpose::Ack, now)?
        } else {
            self.session_id()?;
            self.request_id()
        };
        let mut options = Dict::new();
        if acknowledge {
            options.insert("acknowledge".into(), json!(true));
        }
        let m = Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload,
        };
        Some((request, Action::Send(m.encode())))
    }

    /// REGISTERs `re.mgmt.<serial>.<name>` for the session's lifetime (a terminal's resize
    /// procedure); its invocations come as [`Action::Invoke`] with `name`.
    pub fn register(&mut self, name: &str, now: Instant) -> Option<(u64, Action)> {
        let request = self.ack_request(Purpose::AckRegister(name.into()), now)?;
        let m = Message::Register {
            request,
            options: Dict::new(),
            procedure: self.id.procedure(name),
        };
        Some((request, Action::Send(m.encode())))
    }

    /// UNREGISTERs what [`Session::register`] registered as `name`.
    pub fn unregister(&mut self, name: &str, now: Instant) -> Option<(u64, Action)> {
        let registration = self
            .registrations
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)?;
        let request = self.ack_request(Purpose::Ack, now)?;
        self.registrations.remove(&registration);
        let m = Message::Unregister {
            request,
            registration,
        };
        Some((request, Action::Send(m.encode())))
    }
}
