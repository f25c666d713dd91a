//! Contract names (`<source>.<tool>`) and the names a model accepts
//! (OpenAI's rule: `^[a-zA-Z0-9_-]{1,64}$`), mapped both ways for the
//! tools of one request.
//!
//! The model name is the contract name with `.` spelled `__`; characters
//! outside the rule become `_`. When that is too long or already taken by
//! another tool of the same request, the name is cut and ends in a short
//! hash of the contract name, so two tools never share a model name.

use std::collections::HashMap;

/// Longest model-facing name.
const MAX_LEN: usize = 64;

/// The model names of one request's tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelNames {
    to_model: HashMap<String, String>,
    to_contract: HashMap<String, String>,
}

impl ModelNames {
    /// Names for `tools` (contract names, each once).
    pub fn new<'a>(tools: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names = Self::default();
        for tool in tools {
            if names.to_model.contains_key(tool) {
                continue;
            }
            let plain = plain_name(tool);
            let model = if plain.len() <= MAX_LEN && !names.to_contract.contains_key(&plain) {
                plain
            } else {
                hashed_name(&plain, tool, &names.to_contract)
            };
            names.to_contract.insert(model.clone(), tool.to_owned());
            names.to_model.insert(tool.to_owned(), model);
        }
        names
    }

    /// The name the model sees for a contract name.
    pub fn model(&self, contract: &str) -> Option<&str> {
        self.to_model.get(contract).map(String::as_str)
    }

    /// The contract name of what the model called; `None` for a name no
    /// tool of the request has (the model made it up).
    pub fn contract(&self, model: &str) -> Option<&str> {
        self.to_contract.get(model).map(String::as_str)
    }
}

fn plain_name(contract: &str) -> String {
    contract
        .replace('.', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `plain` cut to leave room for `_` and 8 hex digits of a hash of
/// `contract` (salted until free).
fn hashed_name(plain: &str, contract: &str, taken: &HashMap<String, String>) -> String {
    let keep = MAX_LEN - 9;
    let head: String = plain.chars().take(keep).collect();
    let mut salt = 0u32;
    loop {
        let name = format!("{head}_{:08x}", fnv1a(contract, salt));
        if !taken.contains_key(&name) {
            return name;
        }
        salt += 1;
    }
}

/// FNV-1a, 32 bits: stable across runs and builds (unlike std's hasher).
fn fnv1a(text: &str, salt: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5 ^ salt;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_LEN).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn dots_become_double_underscores_and_map_back() {
        let names = ModelNames::new(["yoi.list_workers", "time.get_current_time"]);
        assert_eq!(names.model("yoi.list_workers"), Some("yoi__list_workers"));
        assert_eq!(
            names.contract("yoi__list_workers"),
            Some("yoi.list_workers")
        );
        assert_eq!(
            names.contract("time__get_current_time"),
            Some("time.get_current_time")
        );
        assert_eq!(names.contract("shell__run"), None);
    }

    #[test]
    fn names_that_would_collide_get_distinct_valid_names() {
        let tools = ["a_.b", "a._b", "a.__b"];
        let names = ModelNames::new(tools);
        let models: Vec<&str> = tools.iter().map(|t| names.model(t).unwrap()).collect();
        for (tool, model) in tools.iter().zip(&models) {
            assert!(valid(model), "{model}");
            assert_eq!(names.contract(model), Some(*tool));
        }
        assert_ne!(models[0], models[1]);
        assert_ne!(models[1], models[2]);
        assert_ne!(models[0], models[2]);
    }

    #[test]
    fn long_and_odd_names_are_cut_to_the_rule() {
        let long = format!("server.{}", "x".repeat(100));
        let other = format!("server.{}y", "x".repeat(100));
        let names = ModelNames::new([long.as_str(), other.as_str(), "mcp.größe"]);
        for tool in [long.as_str(), other.as_str(), "mcp.größe"] {
            let model = names.model(tool).unwrap();
            assert!(valid(model), "{model}");
            assert_eq!(names.contract(model), Some(tool));
        }
        assert_ne!(names.model(&long), names.model(&other));
    }
}
