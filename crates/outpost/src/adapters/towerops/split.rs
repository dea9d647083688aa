//! A DISCOVER or POLL result split into frames under `max_result_bytes` (of base64), as
//! the original splits it: buckets (the GETs' one, one per walk root) packed whole into
//! frames, one bigger than a frame cut and named in `truncated_roots`.

use std::collections::BTreeMap;

use outpost_proto::towerops::SnmpResult;

/// Packs the buckets into results of at most `budget` bytes of base64 each: a bucket goes
/// whole into the current frame if it fits, else starts a new one; one bigger than a
/// whole frame is cut and named in `truncated_roots`. One frame: sequence 0, final; several:
/// sequence 1..N, final on the last. Every frame repeats partial and the roots lists.
pub fn split(
    template: &SnmpResult,
    buckets: Vec<(String, Vec<(String, String)>)>,
    budget: usize,
    mut truncated: Vec<String>,
) -> Vec<SnmpResult> {
    // The decoded budget, leaving room for the message's other fields.
    let limit = (budget / 4 * 3).saturating_sub(4096).max(1024);
    // A map entry's encoded size: two length-delimited strings in a length-delimited entry.
    let entry = |k: &str, v: &str| k.len() + v.len() + 12;
    let mut maps: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    let mut used = 0usize;
    for (root, rows) in buckets {
        let size: usize = rows.iter().map(|(k, v)| entry(k, v)).sum();
        if used > 0 && used + size > limit {
            maps.push(BTreeMap::new());
            used = 0;
        }
        for (k, v) in rows {
            let e = entry(&k, &v);
            if used + e > limit {
                if !truncated.contains(&root) {
                    truncated.push(root.clone());
                }
                break;
            }
            used += e;
            if let Some(m) = maps.last_mut() {
                m.insert(k, v);
            }
        }
    }
    if maps.len() > 1 && maps.last().is_some_and(BTreeMap::is_empty) {
        maps.pop();
    }
    let n = maps.len();
    maps.into_iter()
        .enumerate()
        .map(|(i, oid_values)| SnmpResult {
            oid_values,
            sequence: if n == 1 { 0 } else { i as u32 + 1 },
            r#final: i + 1 == n,
            truncated_roots: truncated.clone(),
            ..template.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_proto::towerops::WireMessage;

    fn bucket(root: &str, n: usize, width: usize) -> (String, Vec<(String, String)>) {
        let rows = (0..n)
            .map(|i| (format!("{root}.{i}"), "x".repeat(width)))
            .collect();
        (root.to_owned(), rows)
    }

    #[test]
    fn issue17_towerops_split_packs_buckets_numbers_frames_and_names_cut_roots() {
        let t = SnmpResult {
            job_id: "poll:1".into(),
            partial: true,
            completed_roots: vec!["1.3".into()],
            ..Default::default()
        };
        // Fits: one frame, sequence 0, final.
        let one = split(&t, vec![bucket("1.3", 10, 10)], 8 << 20, vec![]);
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].sequence, one[0].r#final), (0, true));
        assert_eq!(one[0].oid_values.len(), 10);
        // Three buckets of ~1,100 bytes each under a 1,024-byte decoded budget floor... use
        // a budget that holds two rows' worth per frame.
        let budget = 8 << 10; // decoded limit 6144 - 4096 = 2048
        let f = split(
            &t,
            vec![
                bucket("a", 10, 150),
                bucket("b", 10, 150),
                bucket("c", 100, 150),
            ],
            budget,
            vec![],
        );
        assert!(f.len() >= 3, "{}", f.len());
        for (i, r) in f.iter().enumerate() {
            assert_eq!(r.sequence, i as u32 + 1);
            assert_eq!(r.r#final, i + 1 == f.len());
            assert!(r.partial);
            assert_eq!(r.completed_roots, ["1.3"]);
            assert_eq!(r.truncated_roots, ["c"]);
            assert!(WireMessage::encoded_len(r) <= budget / 4 * 3);
        }
        // a and b whole; c cut.
        let all: BTreeMap<_, _> = f.iter().flat_map(|r| r.oid_values.clone()).collect();
        assert_eq!(all.keys().filter(|k| k.starts_with("a.")).count(), 10);
        assert_eq!(all.keys().filter(|k| k.starts_with("b.")).count(), 10);
        assert!(all.keys().filter(|k| k.starts_with("c.")).count() < 100);
    }
}
