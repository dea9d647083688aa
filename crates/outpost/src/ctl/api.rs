//! `outpost ctl --api`: the agent's local API.

#[cfg(feature = "ws")]
use futures_util::StreamExt;

use super::{finish, parse_params, CtlArgs, CtlCommand, CtlError};

pub async fn run(base: &str, args: &CtlArgs) -> Result<(), CtlError> {
    let base = base.trim_end_matches('/');
    let token = args
        .token
        .clone()
        .ok_or_else(|| CtlError::Usage("give --token or set OUTPOST_TOKEN".into()))?;
    let http = reqwest::Client::new();
    let failed = |e: reqwest::Error| CtlError::Failed(e.to_string());
    match &args.command {
        CtlCommand::Run {
            kind,
            params,
            timeout_ms,
            wait,
        } => {
            let mut body = serde_json::json!({"kind": kind, "params": parse_params(params)?});
            if let Some(t) = timeout_ms {
                body["timeout_ms"] = (*t).into();
            }
            let r = http
                .post(format!("{base}/v1/jobs?wait={}", wait.min(300.0)))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .map_err(failed)?;
            let status = r.status();
            let v: serde_json::Value = r.json().await.map_err(failed)?;
            if status.is_client_error() {
                return Err(CtlError::Failed(format!("{status}: {}", v["error"])));
            }
            finish(&v)
        }
        CtlCommand::Get { id } => {
            let r = http
                .get(format!("{base}/v1/jobs/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(failed)?;
            let status = r.status();
            let v: serde_json::Value = r.json().await.map_err(failed)?;
            if !status.is_success() {
                return Err(CtlError::Failed(format!("{status}: {}", v["error"])));
            }
            println!("{v}");
            Ok(())
        }
        #[cfg(not(feature = "ws"))]
        CtlCommand::Watch { .. } => Err(CtlError::Usage(
            "this build has no WebSocket client (feature ws): watch through --broker".into(),
        )),
        #[cfg(feature = "ws")]
        CtlCommand::Watch { after } => {
            let ws_base = base.replacen("http", "ws", 1);
            let url = match after {
                Some(a) => format!("{ws_base}/v1/events?after={a}"),
                None => format!("{ws_base}/v1/events"),
            };
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    url.as_str(),
                )
                .map_err(|e| CtlError::Usage(format!("--api: {e}")))?;
            let auth = format!("Bearer {token}")
                .parse()
                .map_err(|_| CtlError::Usage("token is not header-safe".into()))?;
            req.headers_mut().insert("authorization", auth);
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(|e| CtlError::Failed(e.to_string()))?;
            while let Some(msg) = ws.next().await {
                match msg {
                    Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => println!("{t}"),
                    Ok(_) => {}
                    Err(e) => return Err(CtlError::Failed(e.to_string())),
                }
            }
            Ok(())
        }
    }
}
