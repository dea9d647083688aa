//! `outpost ctl --broker`: the agent's MQTT topics, seen from the control plane.

use std::time::Duration;

use outpost_proto::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{finish, parse_params, wait_of, CtlArgs, CtlCommand, CtlError};
use crate::uplink::mqtt::{pool_topic, topic, BrokerUrl};

pub async fn run(broker: &str, args: &CtlArgs) -> Result<(), CtlError> {
    let url = BrokerUrl::parse(broker).map_err(|e| CtlError::Usage(e.to_string()))?;
    let target = match (&args.agent, &args.pool) {
        (Some(a), None) => a.clone(),
        (None, Some(_)) => "+".to_owned(),
        _ => return Err(CtlError::Usage("give --agent ID or --pool NAME".into())),
    };
    let mut o = MqttOptions::new(
        format!("outpost-ctl-{}", uuid::Uuid::now_v7().simple()),
        &url.host,
        url.port,
    );
    o.set_keep_alive(Duration::from_secs(10));
    o.set_max_packet_size(16 << 20, 16 << 20);
    if url.tls {
        let tls =
            crate::uplink::tls::client_config().map_err(|e| CtlError::Failed(e.to_string()))?;
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls),
        ));
    }
    let (client, mut el) = AsyncClient::new(o, 64);
    let sub = match &args.command {
        CtlCommand::Watch { after: Some(_) } => {
            return Err(CtlError::Usage(
                "--after needs --api: MQTT has no replay".into(),
            ))
        }
        CtlCommand::Watch { .. } => format!("outpost/{target}/#"),
        CtlCommand::Run { .. } => topic(&target, "results"),
        CtlCommand::Get { .. } => return Err(CtlError::Usage("get needs --api".into())),
    };
    client
        .subscribe(&sub, QoS::AtLeastOnce)
        .await
        .map_err(|e| CtlError::Failed(e.to_string()))?;
    let (job_id, deadline) = match &args.command {
        CtlCommand::Run {
            kind,
            params,
            timeout_ms,
            wait,
        } => {
            let id = uuid::Uuid::now_v7().to_string();
            let job = Message::Job {
                id: id.clone(),
                kind: kind.clone(),
                params: parse_params(params)?,
                timeout_ms: *timeout_ms,
            };
            (
                Some((id, job)),
                Some(tokio::time::Instant::now() + wait_of(*wait)),
            )
        }
        _ => (None, None),
    };
    let mut pending = job_id.clone();
    loop {
        let ev = match deadline {
            Some(d) => tokio::time::timeout_at(d, el.poll())
                .await
                .map_err(|_| CtlError::Failed("no result before --wait ran out".into()))?,
            None => el.poll().await,
        };
        match ev {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                // Publish only once the results subscription is live, or the answer may
                // arrive before we listen.
                if let Some((_, job)) = pending.take() {
                    let to = match &args.pool {
                        Some(p) => pool_topic(p),
                        None => topic(&target, "jobs"),
                    };
                    client
                        .publish(to, QoS::AtLeastOnce, false, job.encode())
                        .await
                        .map_err(|e| CtlError::Failed(e.to_string()))?;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some((id, _)) = &job_id else {
                    println!(
                        "{}",
                        serde_json::json!({"topic": p.topic, "message": serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap_or_else(|_| String::from_utf8_lossy(&p.payload).into())})
                    );
                    continue;
                };
                match Message::decode(&p.payload) {
                    Ok(Message::Result { result, .. }) if result["id"] == id.as_str() => {
                        return finish(&result)
                    }
                    Ok(Message::Error {
                        code,
                        message,
                        about: Some(a),
                    }) if a == *id => {
                        return Err(CtlError::Failed(format!(
                            "the agent refused the job: {code}: {message}"
                        )))
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => return Err(CtlError::Failed(format!("broker: {e}"))),
        }
    }
}
