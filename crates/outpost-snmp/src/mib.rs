//! MIB names: a compact built-in table for the standard IETF MIBs, plus a
//! tolerant SMI reader for more MIB files from a directory. Only names and
//! OIDs are kept; syntax and hints are deliberately absent (the `-On` text
//! form does not use them).

use std::collections::HashMap;
use std::path::Path;

use crate::oid::Oid;

/// Built-in definitions: `MODULE name parent subid`, parents before children.
#[cfg(feature = "mib-names")]
const BUILTIN: &str = include_str!("mib_builtin.txt");
/// A router build (no `mib-names`) carries no table: names come from MIB files only.
#[cfg(not(feature = "mib-names"))]
const BUILTIN: &str = "";

/// Name table, both directions.
#[derive(Debug, Clone)]
pub struct Mib {
    /// name -> (module, OID); a name defined by two modules keeps the first.
    by_name: HashMap<String, (String, Oid)>,
    /// OID -> name, for symbolic output: a tree walked arc by arc, so naming an OID is one
    /// pass down it (a binary search per arc) rather than a hash of every prefix, longest
    /// first. The trap receiver names every varbind of every trap with it.
    tree: Vec<Node>,
}

/// One OID arc in [`Mib::tree`]; node 0 is the root (the empty OID).
#[derive(Debug, Clone, Default)]
struct Node {
    /// (arc, node index), sorted by arc.
    children: Vec<(u32, u32)>,
    /// `(module, name)` of the first definition at exactly this OID.
    label: Option<(String, String)>,
}

impl Default for Mib {
    fn default() -> Self {
        Mib {
            by_name: HashMap::new(),
            tree: vec![Node::default()],
        }
    }
}

/// A name that could not be resolved.
/// Why text is not an OID: a name no loaded MIB knows, or an OID that cannot be sent
/// as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    #[error("unknown object identifier {0:?}")]
    Unknown(String),
    #[error("{0}")]
    Invalid(#[from] crate::oid::ParseOidError),
}

impl Mib {
    /// The built-in table only.
    pub fn builtin() -> Mib {
        let mut m = Mib::default();
        m.insert("", "iso", Oid(vec![1]));
        let defs: Vec<Def> = BUILTIN
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some(Def {
                    module: f.next()?.to_string(),
                    name: f.next()?.to_string(),
                    parent: f.next()?.to_string(),
                    subids: f.map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?,
                })
            })
            .collect();
        m.resolve(defs);
        m
    }

    fn insert(&mut self, module: &str, name: &str, oid: Oid) {
        let mut at = 0usize;
        for &arc in oid.as_slice() {
            at = match self.tree[at].children.binary_search_by_key(&arc, |c| c.0) {
                Ok(i) => self.tree[at].children[i].1 as usize,
                Err(i) => {
                    let next = self.tree.len();
                    self.tree.push(Node::default());
                    self.tree[at].children.insert(i, (arc, next as u32));
                    next
                }
            };
        }
        // The module shown is the one that defined the name first, whichever OID it was.
        let (first_module, _) = self
            .by_name
            .entry(name.to_string())
            .or_insert((module.to_string(), oid));
        let first_module = first_module.clone();
        if self.tree[at].label.is_none() {
            self.tree[at].label = Some((first_module, name.to_string()));
        }
    }

    /// The deepest named node on `arcs`' path: (how many arcs it covers, module, name).
    fn deepest(&self, arcs: &[u32]) -> Option<(usize, &str, &str)> {
        let mut found = None;
        let mut at = 0usize;
        for (depth, arc) in arcs.iter().enumerate() {
            let children = &self.tree[at].children;
            let Ok(i) = children.binary_search_by_key(arc, |c| c.0) else {
                break;
            };
            at = children[i].1 as usize;
            if let Some((m, n)) = &self.tree[at].label {
                found = Some((depth + 1, m.as_str(), n.as_str()));
            }
        }
        found
    }

    /// Adds definitions, resolving parents until nothing more resolves.
    fn resolve(&mut self, mut defs: Vec<Def>) {
        loop {
            let before = defs.len();
            defs.retain(|d| {
                let Some((_, p)) = self.by_name.get(&d.parent).cloned() else {
                    return true;
                };
                let mut v = p.0;
                v.extend_from_slice(&d.subids);
                self.insert(&d.module, &d.name, Oid(v));
                false
            });
            if defs.is_empty() || defs.len() == before {
                break;
            }
        }
    }

    /// Loads every file in `dir` (one level); unreadable or unparsable parts
    /// are skipped. Returns how many names were added.
    pub fn load_dir(&mut self, dir: &Path) -> std::io::Result<usize> {
        let before = self.by_name.len();
        let mut defs = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if let Ok(bytes) = std::fs::read(&path) {
                defs.extend(parse_smi(&String::from_utf8_lossy(&bytes)));
            }
        }
        self.resolve(defs);
        Ok(self.by_name.len() - before)
    }

    /// Reads `IF-MIB::ifDescr.3`, `sysDescr.0`, `.1.3.6.1...` or `1.3.6...`.
    pub fn parse_oid(&self, s: &str) -> Result<Oid, UnknownName> {
        // Numeric text is parsed (and its arcs checked) as such: `3.1` is an invalid OID,
        // not a name nobody knows.
        if s.trim_start_matches('.')
            .starts_with(|c: char| c.is_ascii_digit())
        {
            return Ok(s.parse::<Oid>()?);
        }
        let unknown = || UnknownName::Unknown(crate::oid::shown(s));
        let (module, rest) = match s.split_once("::") {
            Some((m, r)) => (Some(m), r),
            None => (None, s),
        };
        let (name, suffix) = match rest.split_once('.') {
            Some((n, sfx)) => (n, Some(sfx)),
            None => (rest, None),
        };
        let (m, base) = self.by_name.get(name).ok_or_else(unknown)?;
        if let Some(want) = module {
            if m != want {
                return Err(unknown());
            }
        }
        let mut v = base.0.clone();
        if let Some(sfx) = suffix {
            for p in sfx.split('.') {
                v.push(p.parse().map_err(|_| unknown())?);
                if v.len() > crate::ber::MAX_OID_LEN {
                    break;
                }
            }
        }
        // `iso.50` is as unsendable as `1.50`.
        let oid = Oid(v);
        oid.validate(s)?;
        Ok(oid)
    }

    /// The same text as [`Mib::name_of`], formatted when displayed: no allocation, and
    /// prefixes looked up as slices. For hot paths such as the trap receiver's payloads.
    pub fn named<'a>(&'a self, oid: &'a Oid) -> Named<'a> {
        Named {
            oid,
            found: self.deepest(oid.as_slice()),
        }
    }

    /// `MODULE::name.suffix` for the longest known prefix, or numeric.
    pub fn name_of(&self, oid: &Oid) -> String {
        self.named(oid).to_string()
    }
}

/// An OID as `MODULE::name.suffix` (see [`Mib::named`]). The prefix is looked up once, when
/// it is made.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    oid: &'a Oid,
    /// The deepest named prefix: (arcs it covers, module, name).
    found: Option<(usize, &'a str, &'a str)>,
}

impl Named<'_> {
    /// Whether a built-in MIB knows a prefix of the OID (else it displays as numeric).
    pub fn is_known(&self) -> bool {
        self.found.is_some()
    }

    /// Appends what `Display` shows, without going through `fmt`.
    pub fn push_to(&self, out: &mut String) {
        let Some((n, module, name)) = self.found else {
            return self.oid.push_to(out);
        };
        if !module.is_empty() {
            out.push_str(module);
            out.push_str("::");
        }
        out.push_str(name);
        crate::oid::push_dotted(out, &self.oid.as_slice()[n..]);
    }
}

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some((n, module, name)) = self.found else {
            return std::fmt::Display::fmt(self.oid, f);
        };
        if !module.is_empty() {
            f.write_str(module)?;
            f.write_str("::")?;
        }
        f.write_str(name)?;
        crate::oid::write_dotted(f, &self.oid.as_slice()[n..])
    }
}

/// One `name ::= { parent subid... }` assignment.
#[derive(Debug, Clone)]
struct Def {
    /// Defining module, for `MODULE::name`.
    module: String,
    /// The descriptor.
    name: String,
    /// The parent descriptor.
    parent: String,
    /// Sub-identifiers under the parent (usually one).
    subids: Vec<u32>,
}

/// Keywords that start an OID-valued assignment in SMIv1/v2.
const MACROS: &[&str] = &[
    "OBJECT-TYPE",
    "OBJECT-IDENTITY",
    "NOTIFICATION-TYPE",
    "MODULE-IDENTITY",
    "OBJECT-GROUP",
    "NOTIFICATION-GROUP",
    "MODULE-COMPLIANCE",
    "AGENT-CAPABILITIES",
    "TRAP-TYPE",
];

/// A tolerant SMI reader: finds `name MACRO ... ::= { parent n }` and
/// `name OBJECT IDENTIFIER ::= { parent n }`; everything else is skipped.
fn parse_smi(text: &str) -> Vec<Def> {
    // Drop comments (`--` to end of line or to the next `--`) and quoted
    // strings (DESCRIPTION text may contain `::= {`).
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for d in chars.by_ref() {
                    if d == '"' {
                        break;
                    }
                }
                code.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                chars.next();
                while let Some(d) = chars.next() {
                    if d == '\n' {
                        code.push('\n');
                        break;
                    }
                    if d == '-' && chars.peek() == Some(&'-') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => code.push(c),
        }
    }
    let spaced = code
        .replace('{', " { ")
        .replace('}', " } ")
        .replace("::=", " ::= ");
    let tokens: Vec<String> = spaced.split_whitespace().map(str::to_string).collect();
    let mut out = Vec::new();
    let mut module = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = |k: usize| tokens.get(k).map(String::as_str).unwrap_or("");
        if t(i + 1) == "DEFINITIONS" {
            module = t(i).to_string();
        }
        let starts = t(i).starts_with(|c: char| c.is_ascii_lowercase())
            && (MACROS.contains(&t(i + 1)) || (t(i + 1) == "OBJECT" && t(i + 2) == "IDENTIFIER"));
        if starts && t(i + 1) != "MACRO" {
            // Find the `::= {` that ends this assignment.
            let mut j = i + 1;
            while j < tokens.len() && !(t(j) == "::=" && t(j + 1) == "{") {
                // Another assignment started: this one has no OID value.
                if j > i + 2 && MACROS.contains(&t(j)) && t(j + 1) != "MACRO" {
                    break;
                }
                j += 1;
            }
            if t(j) == "::=" && t(j + 1) == "{" {
                let mut k = j + 2;
                let mut parts = Vec::new();
                while k < tokens.len() && t(k) != "}" {
                    parts.push(t(k).to_string());
                    k += 1;
                }
                if let Some(d) = def_from(&module, t(i), &parts) {
                    out.push(d);
                }
                i = k;
            }
        }
        i += 1;
    }
    out
}

/// `{ parent 1 }`, `{ parent 1 2 }`, `{ iso org(3) dod(6) 1 }`.
fn def_from(module: &str, name: &str, parts: &[String]) -> Option<Def> {
    let (parent, subs) = parts.split_first()?;
    let mut subids = Vec::new();
    for p in subs {
        let num = match p.split_once('(') {
            Some((_, n)) => n.trim_end_matches(')'),
            None => p,
        };
        subids.push(num.parse().ok()?);
    }
    if subids.is_empty() {
        return None;
    }
    let parent = parent.split_once('(').map(|(n, _)| n).unwrap_or(parent);
    Some(Def {
        module: module.to_string(),
        name: name.to_string(),
        parent: parent.to_string(),
        subids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_both_ways() {
        let m = Mib::builtin();
        assert_eq!(
            m.parse_oid("sysDescr.0").unwrap().to_string(),
            ".1.3.6.1.2.1.1.1.0"
        );
        assert_eq!(
            m.parse_oid("IF-MIB::ifDescr").unwrap().to_string(),
            ".1.3.6.1.2.1.2.2.1.2"
        );
        assert_eq!(
            m.name_of(&".1.3.6.1.2.1.2.2.1.2.7".parse().unwrap()),
            "IF-MIB::ifDescr.7"
        );
        assert!(m.parse_oid("IF-MIB::sysDescr").is_err());
    }

    /// The tree walk names exactly as the longest-prefix rule says: deepest named node,
    /// the rest as numeric arcs; nothing named at all stays numeric.
    #[test]
    fn issue4_names_by_longest_known_prefix() {
        let m = Mib::builtin();
        let name = |s: &str| m.named(&s.parse().unwrap()).to_string();
        assert_eq!(name(".1.3.6.1.2.1.1.1.0"), "SNMPv2-MIB::sysDescr.0");
        assert_eq!(name(".1.3.6.1.6.3.1.1.5.3"), "IF-MIB::linkDown");
        assert_eq!(name(".1.3.6.1.2.1.2.2.1.1.42.9"), "IF-MIB::ifIndex.42.9");
        assert_eq!(
            name(".1.3.6.1.4.1.99999.1"),
            "SNMPv2-SMI::enterprises.99999.1"
        );
        assert_eq!(name(".2.5"), ".2.5");
        assert_eq!(name(".1"), "iso");
        // (.1.77 is no longer parseable: a second arc under 1 must be below 40.)
        assert_eq!(name(".1.7"), "iso.7");
    }

    #[test]
    fn smi_reader() {
        let text = r#"
        TEST-MIB DEFINITIONS ::= BEGIN
        testRoot OBJECT IDENTIFIER ::= { enterprises 99999 } -- a comment
        testScalar OBJECT-TYPE
            SYNTAX Integer32 -- { not 1 }
            MAX-ACCESS read-only
            DESCRIPTION "x ::= { y 2 }"
            ::= { testRoot 1 }
        testNotif NOTIFICATION-TYPE OBJECTS { testScalar } STATUS current
            ::= { testRoot 0 2 }
        END"#;
        let mut m = Mib::builtin();
        m.resolve(parse_smi(text));
        assert_eq!(
            m.parse_oid("TEST-MIB::testScalar.0").unwrap().to_string(),
            ".1.3.6.1.4.1.99999.1.0"
        );
        assert_eq!(
            m.parse_oid("testNotif").unwrap().to_string(),
            ".1.3.6.1.4.1.99999.0.2"
        );
    }
}
