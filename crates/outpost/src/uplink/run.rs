//! The one run loop every uplink shares: register the outbox consumer, then connect, run a
//! session, count and log its end, wait out the backoff, and again, until shutdown. A
//! transport supplies only its [`Transport::session`] (connect and pump one connection).

use std::{future::Future, sync::Arc, time::Instant};

use outpost_core::OutboxRow;
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;

use super::{
    delivery::Delivery,
    events::{EndReason, FailedOver, Reconnecting, Reporter, RowsAcked, SessionEnded},
    Context,
};
use crate::internal_event::InternalEvent;

/// How one connection went, for the backoff and the log.
pub struct Session<E> {
    /// When it was established, if it was.
    pub up_since: Option<Instant>,
    /// Whether it carried traffic both ways, which proves the peer healthy and resets the
    /// backoff however short the session was.
    pub productive: bool,
    pub end: E,
}

/// What a session works with: the agent's context, the uplink's events, its delivery
/// window (restarted by the session when its connection is up), the store's live feed of
/// new rows, and the shutdown token.
pub struct Env<'a> {
    pub cx: &'a Context,
    pub rep: &'a Reporter,
    pub delivery: &'a mut Delivery,
    pub live: &'a mut Receiver<Arc<OutboxRow>>,
    pub shutdown: &'a CancellationToken,
}

/// What a transport supplies to [`run`].
pub trait Transport {
    /// The uplink's name: its metric label, its log prefix and its store consumer
    /// (`uplink:NAME`).
    const NAME: &'static str;
    /// Why a session ended; its kind decides the log line's severity.
    type End: EndReason;

    /// Where it connects to, for the log.
    fn peer(&self) -> String;

    /// One connection, from connecting to its end.
    fn session(&self, env: Env<'_>) -> impl Future<Output = Session<Self::End>> + Send;

    /// After a session that failed or ended: moves to the next peer of a list, if there is
    /// one, and returns it.
    fn fail_over(&self) -> Option<String> {
        None
    }
}

/// Runs `transport` until `shutdown`: connect, deliver, and reconnect with backoff.
pub async fn run<T: Transport>(transport: T, cx: Context, shutdown: CancellationToken) {
    let rep = Reporter::new(T::NAME, cx.metrics.clone());
    let store = cx.dispatcher.store().clone();
    let mut live = store.subscribe();
    let Some(mut delivery) =
        Delivery::open_retrying(store, rep.clone(), cx.window, 256, &shutdown).await
    else {
        return;
    };
    let mut backoff = cx.new_backoff();
    loop {
        let peer = transport.peer();
        let s = transport
            .session(Env {
                cx: &cx,
                rep: &rep,
                delivery: &mut delivery,
                live: &mut live,
                shutdown: &shutdown,
            })
            .await;
        SessionEnded {
            end: &s.end,
            peer: &peer,
            was_up: s.up_since.is_some(),
        }
        .emit(&rep);
        // Acknowledgements received before the connection ended still count.
        if let Ok(n) = delivery.commit().await {
            RowsAcked { n }.emit(&rep);
        }
        if shutdown.is_cancelled() {
            return;
        }
        if let Some(to) = transport.fail_over() {
            FailedOver {
                from: &peer,
                to: &to,
            }
            .emit(&rep);
        }
        let delay = backoff.next_delay(s.up_since, s.productive);
        Reconnecting { delay }.emit(&rep);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
