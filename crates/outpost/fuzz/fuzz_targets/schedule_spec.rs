//! A schedule body, through the one decoder every path takes with one (`POST` and `PUT
//! /v1/schedules`, the `schedule.add`/`schedule.update` job kinds, a stored row at start):
//! `ScheduleSpec::from_json`, which parses the JSON, checks every field and compiles the
//! cron expression (croner, time zones). It must never panic, and what it accepts must
//! re-encode to a spec it decodes the same.
//!
//! Seeds: `seeds/schedule_spec/` (the README's and tests' schedules).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_schedule::ScheduleSpec;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = ScheduleSpec::from_json(data) {
        let again = serde_json::to_vec(&spec.to_value()).unwrap_or_default();
        match ScheduleSpec::from_json(&again) {
            Ok(back) => assert_eq!(back, spec, "a decoded spec re-encodes to the same spec"),
            Err(e) => panic!("a decoded spec does not decode again: {e}"),
        }
    }
});
