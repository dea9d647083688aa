//! IANA time zones for cron schedules, as a `chrono::TimeZone` (croner computes in chrono).
//!
//! The zones come from jiff's database: the system's zoneinfo when it has the zone, else the
//! copy bundled in the binary as TZif bytes. chrono-tz, used before, compiled every zone into
//! tables of pointers that the loader relocated at each start: 1.1 MiB of dirty memory in
//! every agent, whether it had a schedule or not.

use std::{fmt, hash::Hash, sync::Arc};

use chrono::{
    Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike,
};
use jiff::tz::AmbiguousOffset;

/// A named zone. Equal and hashed by its name as configured, so schedules in one zone share
/// their due times.
#[derive(Clone)]
pub struct Zone {
    name: Arc<str>,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone an IANA name such as "Europe/Oslo" names, if the database has it.
    pub fn named(name: &str) -> Option<Zone> {
        let tz = jiff::tz::db().get(name).ok()?;
        Some(Zone {
            name: name.into(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn offset(&self, seconds: i32) -> ZoneOffset {
        ZoneOffset {
            zone: self.clone(),
            // jiff's offsets are within ±25:59:59, FixedOffset's within ±23:59:59; real zones
            // stay far inside both.
            fixed: FixedOffset::east_opt(seconds).unwrap_or_else(|| chrono::Utc.fix()),
        }
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Hash for Zone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

/// A zone's offset at one instant: the fixed offset, and the zone it came from (chrono
/// rebuilds the zone from an offset).
#[derive(Clone, Debug)]
pub struct ZoneOffset {
    zone: Zone,
    fixed: FixedOffset,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone.clone()
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }

    /// A local time in a gap (the hour skipped into summer time) has no offset; one in a fold
    /// (the hour repeated) has two, the earlier instant first: as chrono-tz answered.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let Some(civil) = civil(local) else {
            return MappedLocalTime::None;
        };
        match self.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => {
                MappedLocalTime::Single(self.offset(offset.seconds()))
            }
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            AmbiguousOffset::Fold { before, after } => MappedLocalTime::Ambiguous(
                self.offset(before.seconds()),
                self.offset(after.seconds()),
            ),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        // Past jiff's range (years ±9999) no schedule is due anyway: UTC's offset there.
        match jiff::Timestamp::new(utc.and_utc().timestamp(), 0) {
            Ok(ts) => self.offset(self.tz.to_offset(ts).seconds()),
            Err(_) => self.offset(0),
        }
    }
}

/// chrono's local date and time as jiff's; `None` outside jiff's years (±9999).
fn civil(t: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    jiff::civil::DateTime::new(
        i16::try_from(t.year()).ok()?,
        i8::try_from(t.month()).ok()?,
        i8::try_from(t.day()).ok()?,
        i8::try_from(t.hour()).ok()?,
        i8::try_from(t.minute()).ok()?,
        // chrono marks a leap second as second 59 with 1e9+ nanoseconds.
        i8::try_from(t.second()).ok()?,
        i32::try_from(t.nanosecond().min(999_999_999)).ok()?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::Zone;

    /// Europe/Oslo, 2026: summer time from 29 March 02:00 (skipped) to 25 October 03:00
    /// (02:00–03:00 twice).
    #[test]
    fn issue13_zone_offsets_gaps_and_folds_as_chrono_tz_gave_them() {
        let oslo = Zone::named("Europe/Oslo").unwrap();
        let winter = oslo
            .with_ymd_and_hms(2026, 1, 10, 12, 0, 0)
            .single()
            .unwrap();
        assert_eq!(winter.offset().to_string(), "+01:00");
        let summer = oslo
            .with_ymd_and_hms(2026, 7, 10, 12, 0, 0)
            .single()
            .unwrap();
        assert_eq!(summer.offset().to_string(), "+02:00");
        assert!(
            oslo.with_ymd_and_hms(2026, 3, 29, 2, 30, 0)
                .single()
                .is_none(),
            "a gap has no local time"
        );
        let chrono::MappedLocalTime::Ambiguous(a, b) =
            oslo.with_ymd_and_hms(2026, 10, 25, 2, 30, 0)
        else {
            panic!("a fold has two")
        };
        assert!(a < b, "the earlier instant first");
        assert_eq!(b.timestamp() - a.timestamp(), 3600);
        let utc = Utc.with_ymd_and_hms(2026, 7, 10, 10, 0, 0).unwrap();
        assert_eq!(
            utc.with_timezone(&oslo).to_string(),
            "2026-07-10 12:00:00 +02:00"
        );
        assert!(Zone::named("Mars/Olympus_Mons").is_none());
        assert_eq!(Zone::named("UTC").unwrap(), Zone::utc());
    }
}
