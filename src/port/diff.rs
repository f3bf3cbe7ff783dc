//! A structural diff of two JSON values (interface; the implementation lands with issue 5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One difference at a path such as `properties.healthStatus` or `relations.team[1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        value: Value,
    },
    Removed {
        path: String,
        value: Value,
    },
    Changed {
        path: String,
        before: Value,
        after: Value,
    },
}
