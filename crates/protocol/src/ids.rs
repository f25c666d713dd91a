//! Identifiers. Workers, runs and messages are ULIDs; runtimes are short slugs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;
use ulid::Ulid;
use utoipa::ToSchema;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{0}` is not a valid ULID")]
    NotUlid(String),
    #[error(
        "a runtime id is 1 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    BadSlug,
    #[error("a client message id is 1 to 128 printable characters")]
    BadClientMessageId,
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS, ToSchema)]
        #[serde(transparent)]
        #[ts(type = "string")]
        // What the server accepts: 26 Crockford base32 characters, either case.
        #[schema(value_type = String, example = "01JD6Z8Y3M2Q9W7T4R5E6N1XKA",
            pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
        pub struct $name(pub Ulid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Ulid::generate())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ulid::from_string(s)
                    .map(Self)
                    .map_err(|_| IdError::NotUlid(truncate_for_message(s)))
            }
        }
    };
}

ulid_id!(
    /// A Worker, unique within its runtime.
    WorkerId
);
ulid_id!(
    /// One run: an accepted input and the provider call it started.
    RunId
);
ulid_id!(
    /// A message of a transcript.
    MessageId
);

fn truncate_for_message(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A runtime: a short slug such as `backend-internal`. Shared, not copied:
/// every event of a Worker names its runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, TS, ToSchema)]
#[ts(type = "string")]
#[schema(value_type = String, example = "backend-internal", pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
pub struct RuntimeId(std::sync::Arc<str>);

impl Serialize for RuntimeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl RuntimeId {
    /// Checks the slug syntax: 1 to 64 of `a-z`, `0-9`, `-`, not starting with `-`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.into()))
        } else {
            Err(IdError::BadSlug)
        }
    }

    /// The backend's own in-process runtime.
    pub fn backend_internal() -> Self {
        Self(crate::BACKEND_INTERNAL_RUNTIME.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RuntimeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for RuntimeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A client's own id for an input, which makes a retried input idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, TS, ToSchema)]
#[serde(transparent)]
#[ts(type = "string")]
#[schema(value_type = String, min_length = 1, max_length = 128,
    pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::BadClientMessageId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientMessageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A Worker's event sequence number: gapless, from 1. `Seq(0)` means "nothing yet".
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    TS,
    ToSchema,
)]
#[serde(transparent)]
#[ts(type = "number")]
#[schema(value_type = u64)]
pub struct Seq(pub u64);

impl Seq {
    pub const ZERO: Seq = Seq(0);

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `runtime_id + worker_id`: how every client names a Worker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS, ToSchema)]
pub struct WorkerRef {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
}

impl fmt::Display for WorkerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.runtime_id, self.worker_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_id_accepts_slugs_and_rejects_the_rest() {
        assert!(RuntimeId::parse("backend-internal").is_ok());
        assert!(RuntimeId::parse("gpu-box-2").is_ok());
        for bad in ["", "-x", "Upper", "a/b", "a b", &"x".repeat(65)] {
            assert_eq!(RuntimeId::parse(bad), Err(IdError::BadSlug), "{bad:?}");
        }
    }

    #[test]
    fn worker_id_round_trips_as_a_plain_string() {
        let id = WorkerId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: WorkerId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!("not-a-ulid".parse::<WorkerId>().is_err());
    }

    #[test]
    fn client_message_id_bounds() {
        assert!(ClientMessageId::parse("retry-1").is_ok());
        assert!(ClientMessageId::parse("").is_err());
        assert!(ClientMessageId::parse(&"a".repeat(129)).is_err());
        assert!(ClientMessageId::parse("a\nb").is_err());
    }
}
