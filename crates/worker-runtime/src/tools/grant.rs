//! A profile's grants: rules `pattern = "allow" | "ask" | "deny"`, with `*`
//! (any run of characters) and `?` (one character); the last rule that
//! matches a tool decides. A tool that no rule matches is not offered at
//! all, so the model never sees it.

use yoi_protocol::{GrantedTool, ToolPolicy};

/// Why a profile's rules cannot be used; a start-up error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error(
        "profile `{profile}`: the tool rule `{pattern}` names no known tool (known: {known}); fix its name or remove it"
    )]
    NoSuchTool {
        profile: String,
        pattern: String,
        known: String,
    },
}

/// One profile's rules, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolGrants {
    rules: Vec<(String, ToolPolicy)>,
}

impl ToolGrants {
    pub fn new(rules: Vec<(String, ToolPolicy)>) -> Self {
        Self { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[(String, ToolPolicy)] {
        &self.rules
    }

    /// The policy for `tool`: that of the last rule that matches, `None`
    /// when none does.
    pub fn policy(&self, tool: &str) -> Option<ToolPolicy> {
        self.rules
            .iter()
            .rev()
            .find(|(pattern, _)| matches(pattern, tool))
            .map(|(_, policy)| *policy)
    }

    /// Every rule must match at least one of `known`. A rule for a
    /// configured source that lists no tool yet (an MCP server not started
    /// or down) counts too: its tools are not known before it runs.
    pub fn check(
        &self,
        profile: &str,
        known: &[String],
        sources: &[String],
    ) -> Result<(), GrantError> {
        for (pattern, _) in &self.rules {
            let names_a_tool = known.iter().any(|t| matches(pattern, t));
            let names_a_source = pattern.split_once('.').is_some_and(|(source, rest)| {
                let configured = sources.iter().any(|s| s == source);
                let unlisted = !known
                    .iter()
                    .any(|t| t.split_once('.').is_some_and(|(s, _)| s == source));
                configured && (rest == "*" || unlisted)
            });
            if !names_a_tool && !names_a_source {
                return Err(GrantError::NoSuchTool {
                    profile: profile.to_owned(),
                    pattern: pattern.clone(),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    /// Whether a rule that allows or asks may name a tool of `source`: the
    /// part of its pattern before the first `.` matches the source's name
    /// (a wildcard there may also stand for the rest).
    pub fn may_use_source(&self, source: &str) -> bool {
        self.rules.iter().any(|(pattern, policy)| {
            if *policy == ToolPolicy::Deny {
                return false;
            }
            let head = pattern.split('.').next().unwrap_or(pattern);
            if head.contains(['*', '?']) {
                matches(&format!("{head}*"), source)
            } else {
                head == source && pattern.len() > head.len()
            }
        })
    }

    /// The tools of `known` offered to the model, with their policy (those
    /// denied or named by no rule are left out).
    pub fn granted(&self, known: &[String]) -> Vec<GrantedTool> {
        known
            .iter()
            .filter_map(|name| match self.policy(name) {
                Some(policy @ (ToolPolicy::Allow | ToolPolicy::Ask)) => Some(GrantedTool {
                    name: name.clone(),
                    policy,
                }),
                _ => None,
            })
            .collect()
    }
}

/// Glob match of `*` and `?` against `text`, by characters.
fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it now stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["yoi.list_workers", "yoi.read_transcript", "yoi.ask_worker"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn wildcards_match_by_character() {
        assert!(matches("yoi.*", "yoi.list_workers"));
        assert!(matches("*", "a.b"));
        assert!(matches("yoi.?sk_worker", "yoi.ask_worker"));
        assert!(matches("*.read_*", "yoi.read_transcript"));
        assert!(!matches("yoi.list", "yoi.list_workers"));
        assert!(!matches("yo?.*x", "yoi.list_workers"));
        assert!(matches("a*b*c", "a-b-b-c"));
    }

    #[test]
    fn the_last_matching_rule_wins_and_no_rule_offers_nothing() {
        let grants = ToolGrants::new(vec![
            ("yoi.*".into(), ToolPolicy::Ask),
            ("yoi.list_workers".into(), ToolPolicy::Allow),
            ("yoi.ask_worker".into(), ToolPolicy::Deny),
        ]);
        assert_eq!(grants.policy("yoi.list_workers"), Some(ToolPolicy::Allow));
        assert_eq!(grants.policy("yoi.read_transcript"), Some(ToolPolicy::Ask));
        assert_eq!(grants.policy("yoi.ask_worker"), Some(ToolPolicy::Deny));
        assert_eq!(grants.policy("time.now"), None);
        let offered: Vec<String> = grants
            .granted(&known())
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(offered, ["yoi.list_workers", "yoi.read_transcript"]);
        assert!(ToolGrants::default().granted(&known()).is_empty());
    }

    #[test]
    fn a_source_is_used_when_an_allow_or_ask_rule_may_name_its_tools() {
        let grants = ToolGrants::new(vec![
            ("time.*".into(), ToolPolicy::Allow),
            ("docs.search".into(), ToolPolicy::Ask),
            ("web.*".into(), ToolPolicy::Deny),
        ]);
        assert!(grants.may_use_source("time"));
        assert!(grants.may_use_source("docs"));
        assert!(!grants.may_use_source("web"));
        assert!(!grants.may_use_source("timer"));
        let wide = ToolGrants::new(vec![("*".into(), ToolPolicy::Ask)]);
        assert!(wide.may_use_source("anything"));
        let prefix = ToolGrants::new(vec![("ti*.now".into(), ToolPolicy::Allow)]);
        assert!(prefix.may_use_source("time"));
        assert!(!prefix.may_use_source("docs"));
        assert!(!ToolGrants::default().may_use_source("time"));
    }

    #[test]
    fn a_rule_that_names_no_tool_is_an_error_naming_profile_and_pattern() {
        let grants = ToolGrants::new(vec![("yoi.list_worker".into(), ToolPolicy::Allow)]);
        let err = grants.check("helper", &known(), &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("helper") && text.contains("yoi.list_worker"),
            "{text}"
        );
        let down = ToolGrants::new(vec![("time.*".into(), ToolPolicy::Allow)]);
        assert!(down.check("helper", &known(), &["time".into()]).is_ok());
        assert!(down.check("helper", &known(), &[]).is_err());
        // A tool of a server that lists nothing yet cannot be checked yet.
        let one = ToolGrants::new(vec![("time.now".into(), ToolPolicy::Ask)]);
        assert!(one.check("helper", &known(), &["time".into()]).is_ok());
        let mut listed = known();
        listed.push("time.get_current_time".into());
        assert!(one.check("helper", &listed, &["time".into()]).is_err());
    }
}
