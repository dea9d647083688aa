//! rusty_agent's cron expressions (the `cron` crate: `sec min hour day-of-month month
//! day-of-week [year]`, Quartz-style `?`, days of the week numbered 1 = Sunday to
//! 7 = Saturday) as the schedules' six-field form (croner: seconds first, 0 or 7 = Sunday,
//! 1 = Monday). Names (`Mon-Fri`) mean the same in both and are kept.

/// The six-field expression, or why there is none (the reply names the expression).
pub fn from_rusty(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "expected 6 or 7 fields (sec min hour day-of-month month day-of-week [year]), got {}",
            fields.len()
        ));
    }
    if let Some(year) = fields.get(6) {
        if !matches!(*year, "*" | "?") {
            return Err(format!("the year field {year:?} is not supported (only *)"));
        }
    }
    let q = |f: &str| {
        if f == "?" {
            "*".to_owned()
        } else {
            f.to_owned()
        }
    };
    let dow = shift_days(&q(fields[5]))?;
    Ok(format!(
        "{} {} {} {} {} {}",
        fields[0],
        fields[1],
        fields[2],
        q(fields[3]),
        fields[4],
        dow
    ))
}

/// Numbers in a day-of-week field from 1..=7 (1 = Sunday) to 0..=6 (0 = Sunday); steps
/// after `/` are counts, not days, and stay.
fn shift_days(field: &str) -> Result<String, String> {
    let day = |s: &str| -> Result<String, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(s.to_owned()); // `*`, a name, or something croner will judge
        }
        match s.parse::<u8>() {
            Ok(n @ 1..=7) => Ok((n - 1).to_string()),
            _ => Err(format!(
                "day of week {s:?}: rusty_agent's days are 1 (Sunday) to 7 (Saturday)"
            )),
        }
    };
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let range = match range.split_once('-') {
            Some((a, b)) => format!("{}-{}", day(a)?, day(b)?),
            None => day(range)?,
        };
        parts.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::from_rusty;

    #[test]
    fn issue13_rusty_cron_expressions_become_six_field_ones_with_days_renumbered() {
        // rusty_agent's seeds.
        assert_eq!(from_rusty("0 0/5 * ? * * *").unwrap(), "0 0/5 * * * *");
        assert_eq!(from_rusty("0 0 6,14 ? * * *").unwrap(), "0 0 6,14 * * *");
        assert_eq!(from_rusty("0 30 9 * * 2-6").unwrap(), "0 30 9 * * 1-5");
        assert_eq!(from_rusty("0 0 0 ? * 1,7").unwrap(), "0 0 0 * * 0,6");
        assert_eq!(
            from_rusty("0 0 0 ? * Mon-Fri *").unwrap(),
            "0 0 0 * * Mon-Fri"
        );
        assert_eq!(from_rusty("0 0 0 ? * 2/2").unwrap(), "0 0 0 * * 1/2");
        assert!(from_rusty("* * * * *").is_err());
        assert!(from_rusty("0 0 0 * * * 2030").is_err());
        assert!(from_rusty("0 0 0 * * 0").is_err());
    }
}
