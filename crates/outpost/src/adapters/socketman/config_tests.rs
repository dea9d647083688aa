use std::path::Path;

use super::*;

const MAC: &str = "AA-BB-CC-DD-EE-0F";

/// A minimal good config, with `extra` keys merged over it.
fn with(extra: serde_json::Value) -> Result<Settings, ConfigError> {
    let mut base = serde_json::json!({
        "mqtt_host": "broker.example", "port": 1883, "topic": "t", "key": "k", "mac": MAC,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    parse(
        Path::new("/etc/config.json"),
        base.to_string().as_bytes(),
        &|_| Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    )
}

fn key_of(e: ConfigError) -> String {
    match e {
        ConfigError::Key { key, .. } => key,
        ConfigError::File { message, .. } => panic!("expected a key error, got {message}"),
    }
}

#[test]
fn issue18_config_defaults_are_socketmans_code_defaults() {
    let s = with(serde_json::json!({})).unwrap();
    assert_eq!(s.monitor, 15);
    assert_eq!(s.sleep, 30);
    assert_eq!(s.ping_interval, 30);
    assert_eq!(
        s.reboot, 0,
        "the code's default: recovery off (the README says 600)"
    );
    assert_eq!(s.health_url, "health.cucumberwifi.io");
    assert_eq!(s.health_port, 53);
    assert!(s.scan && s.survey);
    assert!(!s.no_ping && !s.no_cache && !s.rest && !s.insecure && !s.debug);
    assert_eq!(s.mac_file, Path::new("/etc/mac"));
    let m = s.mqtt.unwrap();
    assert_eq!(
        (m.host.as_str(), m.port, m.tls),
        ("broker.example", 1883, false)
    );
    assert!(s.clamped.is_empty());
}

#[test]
fn issue18_config_clamps_monitor_sleep_ping_and_reboot_as_socketman_did() {
    let s = with(serde_json::json!({"monitor": 5})).unwrap();
    assert_eq!(s.monitor, 15);
    assert_eq!(s.clamped[0].0, "monitor");
    let s = with(serde_json::json!({"monitor": -3})).unwrap();
    assert_eq!(s.monitor, 15);
    let s = with(serde_json::json!({"monitor": 20, "sleep": 20})).unwrap();
    assert_eq!(s.sleep, 40, "sleep not above monitor becomes monitor x 2");
    assert!(s.clamped.iter().any(|(k, _)| k == "sleep"));
    let s = with(serde_json::json!({"sleep": 1000})).unwrap();
    assert_eq!(s.sleep, 300);
    let s = with(serde_json::json!({"sleep": 120})).unwrap();
    assert_eq!(s.sleep, 120);
    assert!(s.clamped.is_empty());
    let s = with(serde_json::json!({"ping-interval": 10})).unwrap();
    assert_eq!(s.ping_interval, 30);
    let s = with(serde_json::json!({"ping-interval": "180"})).unwrap();
    assert_eq!(s.ping_interval, 180, "json-c read digit strings as numbers");
    for (given, got) in [(0, 0), (1, 300), (299, 300), (300, 300), (600, 600)] {
        let s = with(serde_json::json!({ "reboot": given })).unwrap();
        assert_eq!(s.reboot, got, "reboot {given}");
    }
    let s = with(serde_json::json!({"qos": 2})).unwrap();
    assert!(s.clamped.iter().any(|(k, _)| k == "qos"));
}

#[test]
fn issue18_config_bad_values_name_their_key() {
    let cases = [
        (serde_json::json!({"monitor": "often"}), "monitor"),
        (serde_json::json!({"monitor": 1.5}), "monitor"),
        (serde_json::json!({"sleep": [1]}), "sleep"),
        (serde_json::json!({"ping-interval": true}), "ping-interval"),
        (serde_json::json!({"reboot": -1}), "reboot"),
        (serde_json::json!({"port": 70000}), "port"),
        (serde_json::json!({"port": 0}), "port"),
        (serde_json::json!({"port": null}), "port"),
        (serde_json::json!({"health_port": 0}), "health_port"),
        (serde_json::json!({"tls": 1}), "tls"),
        (serde_json::json!({"tls": "true"}), "tls"),
        (serde_json::json!({"tls": true}), "cacrt"),
        (serde_json::json!({"mqtt_host": null}), "mqtt_host"),
        (serde_json::json!({"mqtt_host": 12}), "mqtt_host"),
        (serde_json::json!({"topic": null}), "topic"),
        (serde_json::json!({"topic": "a/b"}), "topic"),
        (serde_json::json!({"key": "#"}), "key"),
        (serde_json::json!({"username": {"a": 1}}), "username"),
        (serde_json::json!({"password": "a\nb"}), "password"),
        (serde_json::json!({"mac": "aa:bb:cc:dd:ee:ff"}), "mac"),
        (serde_json::json!({"mac": "AA-BB-CC-DD-EE-0G"}), "mac"),
        (serde_json::json!({"mac": null}), "mac_file"),
        (serde_json::json!({"no-ping": 2}), "no-ping"),
        (serde_json::json!({"no-cache": "yes"}), "no-cache"),
        (serde_json::json!({"scan": 7}), "scan"),
        (serde_json::json!({"survey": []}), "survey"),
        (serde_json::json!({"rest": 3}), "rest"),
        (serde_json::json!({"insecure": "x"}), "insecure"),
        (serde_json::json!({"api_url": "ftp://x"}), "api_url"),
        (serde_json::json!({"stats_url": 5}), "stats_url"),
        (serde_json::json!({"boot_url": "nope"}), "boot_url"),
        (serde_json::json!({"cacrt": false}), "cacrt"),
        (serde_json::json!({"rest": 1}), "api_url"),
    ];
    for (extra, key) in cases {
        let e = with(extra.clone()).unwrap_err();
        let shown = e.to_string();
        assert_eq!(key_of(e), key, "{extra}: {shown}");
        assert!(shown.contains(key), "{shown}");
    }
}

#[test]
fn issue18_config_whole_file_errors_and_the_mac_file() {
    let p = Path::new("/x/config.json");
    let none = |_: &Path| -> std::io::Result<String> { Err(std::io::ErrorKind::NotFound.into()) };
    for bad in [&b"{"[..], b"[]", b"\"x\"", b"", b"\xff"] {
        assert!(
            matches!(parse(p, bad, &none), Err(ConfigError::File { .. })),
            "{bad:?}"
        );
    }
    let text = br#"{"mqtt_host":"h","port":1,"topic":"t","key":"k","mac_file":"/m"}"#;
    let s = parse(p, text, &|f| {
        assert_eq!(f, Path::new("/m"));
        Ok(format!("{MAC}\n"))
    })
    .unwrap();
    assert_eq!(s.mac, MAC);
    let e = parse(p, text, &|_| Ok("aa:bb:cc:dd:ee:ff\n".into())).unwrap_err();
    assert_eq!(key_of(e), "mac_file");
    // The default MAC file.
    let text = br#"{"disable_mqtt":0}"#;
    parse(p, text, &|f| {
        assert_eq!(f, Path::new("/etc/mac"));
        Ok(MAC.into())
    })
    .unwrap();
}

#[test]
fn issue18_config_disable_mqtt_with_any_value_turns_mqtt_off_and_unknown_keys_are_kept_aside() {
    for v in [
        serde_json::json!(0),
        serde_json::json!(false),
        serde_json::json!(""),
    ] {
        let s = with(serde_json::json!({ "disable_mqtt": v, "mqtt_host": null })).unwrap();
        assert!(s.mqtt.is_none());
    }
    let s = with(serde_json::json!({"splash": 1, "heartbeat": 60, "boot_cmd": "0"})).unwrap();
    assert_eq!(s.ignored, vec!["splash".to_owned()]);
    assert_eq!(s.boot_cmd, None, "boot_cmd \"0\" is off");
    let s = with(serde_json::json!({"tls": true, "cacrt": "/etc/ca.pem", "scan": 0, "rest": true, "api_url": "https://a"}))
        .unwrap();
    assert!(s.mqtt.unwrap().tls);
    assert!(!s.scan && s.rest);
}
