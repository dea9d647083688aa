//! Issue 17 (config backups): what a router prints over SSH, read by the backup's RouterOS
//! rules (`backup/routeros.rs`), never panics and keeps every field within its bound; a
//! password anywhere in an error never reaches the detail the server sees. The fuzz
//! target `towerops_backup_text` (crates/outpost/fuzz) drives the same functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost::adapters::towerops::backup::routeros;
use proptest::prelude::*;

proptest! {
    #[test]
    fn issue17_backup_routeros_text_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let line = routeros::one_line(&bytes);
        prop_assert!(line.len() <= 255);
        let _ = routeros::major(&line);
        let text = String::from_utf8_lossy(&bytes);
        let _ = routeros::judge_export(&text);
        let _ = routeros::refusal(&text);
        prop_assert!(routeros::model(&text).len() <= 255);
        let p = routeros::policies(&text);
        prop_assert!(p.len() <= 64 && p.iter().all(|x| !x.starts_with('!') && !x.is_empty()));
        let _ = routeros::quoted_user(&text);
    }

    #[test]
    fn issue17_backup_detail_never_shows_the_password(
        before in "[ -~é\r\n]{0,400}",
        after in "[ -~é\r\n]{0,400}",
        password in "[!-~]{4,24}",
    ) {
        let text = format!("{before}{password}{after}");
        let d = routeros::detail(&text, &password);
        prop_assert!(d.len() <= routeros::MAX_DETAIL);
        prop_assert!(!d.contains(&password), "{d:?}");
        prop_assert!(!d.contains('\n'));
    }

    #[test]
    fn issue17_backup_export_lines_with_a_section_are_accepted(
        header in "[ -~]{0,40}",
        body in prop::collection::vec("[a-z=0-9 ./-]{0,30}", 0..6),
    ) {
        // No refusal words in the body's alphabet except by chance: skip those.
        let text = format!("# {header}\n/ip address\n{}\n", body.join("\n"));
        prop_assume!(routeros::refusal(&text).is_none());
        prop_assert_eq!(routeros::judge_export(&text), Ok(()));
    }
}
