//! Tessera's domain vocabulary: the injected clock, the instant type, identifier newtypes and durations,
//! with no I/O.

/// Declares a vocabulary: an enum whose words name, parse, list and serialize alike (strum and serde),
/// and whose parse error is an [`UnknownValue`] naming the vocabulary as `$what` and listing its words —
/// an unknown word is an error, never a default.
macro_rules! vocabulary {
    ($what:literal, $(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            ::serde::Serialize,
            ::serde::Deserialize,
            ::strum::Display,
            ::strum::EnumString,
            ::strum::AsRefStr,
            ::strum::IntoStaticStr,
            ::strum::VariantNames,
            ::strum::EnumIter,
        )]
        $(#[$meta])*
        #[strum(parse_err_ty = $crate::UnknownValue, parse_err_fn = $name::unknown)]
        pub enum $name { $($body)* }

        impl $name {
            fn unknown(value: &str) -> $crate::UnknownValue {
                let allowed = <$name as ::strum::VariantNames>::VARIANTS;
                $crate::UnknownValue { what: $what, value: value.to_owned(), allowed }
            }
        }
    };
}

pub mod clock;
pub mod duration;
pub mod governance;
pub mod ids;
pub mod invalid;
pub mod permissions;
pub mod requests;
pub mod retry;
pub mod time;
pub mod vocabulary;
pub mod work;

pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::{Duration, ParseDurationError};
pub use ids::{ExecutionId, IdentityId, WorkflowId};
pub use invalid::Invalid;
pub use permissions::UserLevel;
pub use requests::{AccessRequestType, ApproverKind, ItemStatus, RequestStatus, StepStatus, TypeRequestStatus};
pub use retry::RetryPolicy;
pub use time::Timestamp;
pub use vocabulary::{
    AccessKind, AggregationStatus, CatalogKind, ExecutionStatus, IdentityStatus, PlanStatus, UnknownValue,
};
pub use work::{NotificationStatus, WorkKind, WorkStatus, WorkSubject};

/// How a JSON value's type reads in a message ("expected a string, found a number").
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
