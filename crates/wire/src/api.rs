//! API names, one table for the whole workspace: kafka-protocol's [`ApiKey`] names them
//! (`LeaveGroup`); this module gives the spellings kmock shows and accepts.
//!
//! - [`api_name`]: the protocol name of a raw key, also for unknown keys (`unknown(99)`).
//! - [`api_snake_name`]: the snake_case name used in fault specs, the control API and traces
//!   (`leave_group`).
//! - [`api_key_by_name`]: the key for any spelling a user may type (`leave_group`, `LeaveGroup`,
//!   `LEAVE_GROUP`, `leave-group`, `leavegroup`).

use kafka_protocol::messages::ApiKey;

/// The API key as a name, also for keys the protocol crate does not know (`unknown(99)`).
pub fn api_name(api_key: i16) -> String {
    match ApiKey::try_from(api_key) {
        Ok(key) => format!("{key:?}"),
        Err(()) => format!("unknown({api_key})"),
    }
}

/// The snake_case name of an API key: `LeaveGroup` → `leave_group`.
pub fn api_snake_name(api_key: ApiKey) -> String {
    let camel = format!("{api_key:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The API key named `name` in any common spelling (case, `_` and `-` do not matter).
pub fn api_key_by_name(name: &str) -> Option<ApiKey> {
    let wanted = squash(name);
    ApiKey::iter().find(|key| squash(&format!("{key:?}")) == wanted)
}

/// Lower case without separators: every spelling of one name becomes the same string.
fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_names() {
        for key in ApiKey::iter() {
            assert_eq!(api_key_by_name(&api_snake_name(key)), Some(key));
            assert_eq!(api_key_by_name(&format!("{key:?}")), Some(key));
        }
        assert_eq!(api_snake_name(ApiKey::LeaveGroup), "leave_group");
        assert_eq!(api_key_by_name("LEAVE-GROUP"), Some(ApiKey::LeaveGroup));
        assert_eq!(api_key_by_name("leave_grop"), None);
        assert_eq!(api_name(3), "Metadata");
        assert_eq!(api_name(999), "unknown(999)");
    }
}
