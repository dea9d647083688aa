//! The Reagent adapter's app arguments, as the procedures see them after the WAMP decoder:
//! a `request_app_state` dict (`parse_request`) or a record of the backend's
//! `get_requested_app_states` (`parse_record`). Neither may panic; a request they accept
//! must give a Compose text the apps parser accepts, with Reagent's container name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::adapters::reagent::apps::{self, DeviceInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(d)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let device = DeviceInfo {
        serial: "SER".into(),
        arch: "amd64".into(),
        backoff_ms: apps::BACKOFF_MS,
        ..Default::default()
    };
    for r in [apps::parse_request(&d), apps::parse_record(&d)]
        .into_iter()
        .flatten()
    {
        let name = r.container();
        let app = outpost_containers::apps::parse(
            r.compose(&device).as_bytes(),
            &name,
            std::path::Path::new("/"),
        )
        .expect("an accepted request gives a valid app");
        assert_eq!(
            app.services[apps::SERVICE].container_name.as_deref(),
            Some(name.as_str())
        );
    }
});
