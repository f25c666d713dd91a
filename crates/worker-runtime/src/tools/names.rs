//! Tool names both ways: the contract's `<source>.<tool>` (`yoi.list_workers`,
//! `time.get_current_time`) and the name the model sees, which must match
//! OpenAI's function-name rule `^[a-zA-Z0-9_-]{1,64}$`.
//!
//! A name becomes its model-facing form by writing `.` as `__` and any other
//! character outside the rule as `_`. Two names that would then look alike,
//! and names longer than 64 characters, are cut and given a suffix `_` +
//! 8 hex digits of a hash of the whole contract name, so that the mapping is
//! one-to-one and does not depend on the order the names came in. A model
//! that answers with a name outside the map called no tool of ours.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest model-facing name.
pub const MAX_MODEL_NAME: usize = 64;

/// The names of one request's tools, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames {
    to_model: HashMap<String, String>,
    to_contract: HashMap<String, String>,
}

impl ToolNames {
    /// The map for these contract names (duplicates count once).
    pub fn new<'a>(contract_names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: BTreeSet<&str> = contract_names.into_iter().collect();
        // How many names want each plain form: a form two names want goes to neither.
        let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
        for name in &names {
            *wanted.entry(plain(name)).or_default() += 1;
        }
        let mut map = ToolNames::default();
        let mut taken: BTreeSet<String> = BTreeSet::new();
        // Plain forms first, so a hashed one can never take a plain one's place.
        let mut hashed = Vec::new();
        for name in &names {
            let form = plain(name);
            if form.len() <= MAX_MODEL_NAME && wanted.get(&form) == Some(&1) {
                taken.insert(form.clone());
                map.insert(name, form);
            } else {
                hashed.push((*name, form));
            }
        }
        for (name, form) in hashed {
            let mut seed = 0u32;
            let model = loop {
                let candidate = with_hash(&form, name, seed);
                if !taken.contains(&candidate) {
                    break candidate;
                }
                seed = seed.wrapping_add(1);
            };
            taken.insert(model.clone());
            map.insert(name, model);
        }
        map
    }

    fn insert(&mut self, contract: &str, model: String) {
        self.to_contract.insert(model.clone(), contract.to_owned());
        self.to_model.insert(contract.to_owned(), model);
    }

    /// The name the model sees for a contract name.
    pub fn model_name(&self, contract: &str) -> Option<&str> {
        self.to_model.get(contract).map(String::as_str)
    }

    /// The contract name of a name the model used; `None`: not one of ours.
    pub fn contract_name(&self, model: &str) -> Option<&str> {
        self.to_contract.get(model).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.to_model.len()
    }

    pub fn is_empty(&self) -> bool {
        self.to_model.is_empty()
    }
}

/// Whether `name` satisfies OpenAI's function-name rule.
pub fn is_model_name(name: &str) -> bool {
    (1..=MAX_MODEL_NAME).contains(&name.len()) && name.bytes().all(allowed)
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `.` as `__`, any other character the rule refuses as `_`; never empty.
fn plain(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        match c {
            '.' => out.push_str("__"),
            c if c.is_ascii() && allowed(c as u8) => out.push(c),
            _ => out.push('_'),
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `form` cut to leave room for `_` and 8 hex digits of the contract name's hash.
fn with_hash(form: &str, contract: &str, seed: u32) -> String {
    let hash = fnv1a(contract.as_bytes(), seed);
    // `form` is ASCII, so any byte index is a character boundary.
    let keep = form.len().min(MAX_MODEL_NAME - 9);
    format!("{}_{:08x}", &form[..keep], hash)
}

/// FNV-1a, 32 bits: stable across builds and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8], seed: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5 ^ seed;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_and_tool_become_a_valid_name_and_back() {
        let names = ToolNames::new(["yoi.list_workers", "time.get_current_time"]);
        assert_eq!(
            names.model_name("yoi.list_workers"),
            Some("yoi__list_workers")
        );
        assert_eq!(
            names.contract_name("time__get_current_time"),
            Some("time.get_current_time")
        );
        assert_eq!(names.contract_name("yoi.list_workers"), None);
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn names_that_would_collide_are_told_apart() {
        let names = ToolNames::new(["a.b", "a__b", "a b.c", "a_b.c"]);
        let models: BTreeSet<&str> = ["a.b", "a__b", "a b.c", "a_b.c"]
            .iter()
            .map(|n| names.model_name(n).unwrap())
            .collect();
        assert_eq!(models.len(), 4, "{models:?}");
        for n in ["a.b", "a__b", "a b.c", "a_b.c"] {
            let model = names.model_name(n).unwrap();
            assert!(is_model_name(model), "{model}");
            assert_eq!(names.contract_name(model), Some(n));
        }
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_apart() {
        let long_a = format!("mcp.{}", "x".repeat(100));
        let long_b = format!("mcp.{}y", "x".repeat(100));
        let names = ToolNames::new([long_a.as_str(), long_b.as_str()]);
        let a = names.model_name(&long_a).unwrap();
        let b = names.model_name(&long_b).unwrap();
        assert_ne!(a, b);
        assert!(is_model_name(a) && is_model_name(b), "{a} {b}");
        assert_eq!(a.len(), MAX_MODEL_NAME);
        assert!(a.starts_with("mcp__xxx"));
    }

    #[test]
    fn the_map_does_not_depend_on_order() {
        let one = ToolNames::new(["a.b", "a__b", "z.z", "é.x"]);
        let two = ToolNames::new(["é.x", "z.z", "a__b", "a.b"]);
        assert_eq!(one, two);
        assert!(is_model_name(one.model_name("é.x").unwrap()));
    }

    #[test]
    fn the_rule_is_openais() {
        assert!(is_model_name("get_weather-2"));
        assert!(!is_model_name(""));
        assert!(!is_model_name("a.b"));
        assert!(!is_model_name(&"a".repeat(65)));
    }
}
