//! The text form of a fault rule, as given to `kmock serve --fault`:
//!
//! ```text
//! API[@VERSIONS][,MATCH]...:ACTION[,TRIGGER]...
//! ```
//!
//! - `API`: the snake_case name of an API key (`leave_group`), its number (`13`), or `*` (any).
//! - `VERSIONS`: `N` or `N-M` (inclusive).
//! - `MATCH`: `group=ID`, `client=ID`, `member=ID`, `txn=ID` (a transactional id), `conn=N`,
//!   `epoch=N`.
//! - `ACTION`: `delay=DUR`, `hold=DUR`, `error=CODE`, `drop`, `close` (= `close=before`),
//!   `close=after`.
//! - `TRIGGER`: `always`, `once` (= `times=1`), `nth=N`, `times=N`, `prob=P`, `after=DUR`,
//!   `before=DUR`.
//! - `DUR`: an integer with a unit: `250ms`, `60s`, `2m`.
//! - `CODE`: a Kafka error code number or name (`27`, `rebalance_in_progress`,
//!   `REBALANCE_IN_PROGRESS`).
//!
//! The action is after the *last* `:` (so client ids may contain `:`); values cannot contain `,`.
//! `Display` prints the canonical form, which parses back to the same rule. The full reference with
//! examples is `docs/fault-spec.md`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::BrokerTime;

use kmock_wire::error_code;
use kmock_wire::kafka_protocol::messages::ApiKey;

use super::{ConnectionId, FaultAction, FaultMatcher, FaultRule, FaultTrigger, VersionRange};

/// A problem in a fault spec string: the spec and what was expected where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault spec {spec:?}: {kind}")]
pub struct FaultSpecError {
    /// The spec.
    pub spec: String,
    /// What is wrong.
    pub kind: FaultSpecErrorKind,
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

/// What is wrong with a fault spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultSpecErrorKind {
    /// No `:` separating the request part from the action.
    #[error(
        "expected API[@VERSIONS][,MATCH]...:ACTION[,TRIGGER]... with a ':' before the action, e.g. leave_group:delay=60s"
    )]
    MissingAction,
    /// The API part is empty.
    #[error("expected an API name, number or * before the first ',', '@' or ':'")]
    MissingApi,
    /// An API name or number that is not a known API key.
    #[error("unknown API {name:?}{}", did_you_mean(.suggestion))]
    UnknownApi {
        /// What was given.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// `@VERSIONS` is not `N` or `N-M`.
    #[error("expected versions like 3 or 3-5 after '@', got {text:?}")]
    BadVersions {
        /// What was given.
        text: String,
    },
    /// An unknown `MATCH` key.
    #[error(
        "unknown match {key:?}{}: expected group=ID, client=ID, member=ID, txn=ID, conn=N or epoch=N",
        did_you_mean(.suggestion)
    )]
    UnknownMatch {
        /// What was given.
        key: String,
        /// The closest known key.
        suggestion: Option<String>,
    },
    /// The action part is empty.
    #[error(
        "expected an action after ':' (delay=DUR, hold=DUR, error=CODE, drop, close, close=after)"
    )]
    MissingActionName,
    /// An unknown action.
    #[error(
        "unknown action {text:?}{}: expected delay=DUR, hold=DUR, error=CODE, drop, close or close=after",
        did_you_mean(.suggestion)
    )]
    UnknownAction {
        /// What was given.
        text: String,
        /// The closest known action.
        suggestion: Option<String>,
    },
    /// An unknown trigger.
    #[error(
        "unknown trigger {text:?}{}: expected always, once, nth=N, times=N, prob=P, after=DUR or before=DUR",
        did_you_mean(.suggestion)
    )]
    UnknownTrigger {
        /// What was given.
        text: String,
        /// The closest known trigger.
        suggestion: Option<String>,
    },
    /// A duration without a unit or otherwise malformed.
    #[error("{key}=: expected a duration like 250ms or 60s, got {text:?} (units: ms, s, m)")]
    BadDuration {
        /// The key it was given for (`delay`, `after`, ...).
        key: String,
        /// What was given.
        text: String,
    },
    /// An error code that is neither a number nor a known Kafka error name.
    #[error(
        "unknown Kafka error {name:?}{}: expected a code number or a name like rebalance_in_progress or UNKNOWN_MEMBER_ID",
        did_you_mean(.suggestion)
    )]
    UnknownErrorCode {
        /// What was given.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// A value that does not fit its key.
    #[error("{key}=: expected {expected}, got {value:?}")]
    BadValue {
        /// The key.
        key: String,
        /// What was given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The same key twice.
    #[error("{key} given twice")]
    Duplicate {
        /// The key.
        key: String,
    },
}

/// The snake_case name of an API key (`leave_group`), from the workspace's one table.
pub fn api_key_name(api_key: ApiKey) -> String {
    kmock_wire::api_snake_name(api_key)
}

/// The API key with this name, in any spelling (`leave_group`, `LeaveGroup`).
pub fn api_key_by_name(name: &str) -> Option<ApiKey> {
    kmock_wire::api_key_by_name(name)
}

/// The Kafka error codes the protocol crate knows, with their snake_case names.
fn error_codes() -> impl Iterator<Item = (i16, String)> {
    error_code::NAMES
        .iter()
        .map(|(code, name)| (*code, name.to_ascii_lowercase()))
}

/// The snake_case name of a Kafka error code (`27` → `rebalance_in_progress`), if known (from the
/// workspace's one table, `kmock_wire::error_code`).
pub fn error_code_name(code: i16) -> Option<String> {
    error_code::name(code)
        .filter(|_| code != error_code::NONE)
        .map(str::to_ascii_lowercase)
}

fn error_code_by_name(name: &str) -> Option<i16> {
    let wanted = name.to_ascii_lowercase();
    error_codes().find_map(|(code, known)| (known == wanted).then_some(code))
}

/// The candidate closest to `given`, if it is close enough to be a likely typo.
fn closest(given: &str, candidates: impl IntoIterator<Item = String>) -> Option<String> {
    let given = given.to_ascii_lowercase();
    let limit = (given.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (strsim::levenshtein(&given, &candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn words(list: &[&str]) -> impl Iterator<Item = String> {
    list.iter().map(|s| (*s).to_owned())
}

/// The longest duration a spec may give (about 31 years): far beyond any test, and far from the
/// overflow of `now + delay`.
const MAX_DURATION_MS: u64 = 1_000_000_000_000;

struct Parser<'a> {
    spec: &'a str,
}

impl Parser<'_> {
    fn error(&self, kind: FaultSpecErrorKind) -> FaultSpecError {
        FaultSpecError {
            spec: self.spec.to_owned(),
            kind,
        }
    }

    fn bad_value(&self, key: &str, value: &str, expected: &'static str) -> FaultSpecError {
        self.error(FaultSpecErrorKind::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        })
    }

    fn duplicate(&self, key: &str) -> FaultSpecError {
        self.error(FaultSpecErrorKind::Duplicate {
            key: key.to_owned(),
        })
    }

    fn parse(&self) -> Result<FaultRule, FaultSpecError> {
        let spec = self.spec.trim();
        let Some((request_part, action_part)) = spec.rsplit_once(':') else {
            return Err(self.error(FaultSpecErrorKind::MissingAction));
        };
        let matcher = self.matcher(request_part)?;
        let mut items = action_part.split(',').map(str::trim);
        let action = match items.next() {
            Some(text) if !text.is_empty() => self.action(text)?,
            _ => return Err(self.error(FaultSpecErrorKind::MissingActionName)),
        };
        let mut trigger = FaultTrigger::default();
        for item in items {
            self.trigger(item, &mut trigger)?;
        }
        Ok(FaultRule {
            matcher,
            trigger,
            action,
        })
    }

    fn matcher(&self, text: &str) -> Result<FaultMatcher, FaultSpecError> {
        let mut items = text.split(',').map(str::trim);
        let api = items.next().unwrap_or_default();
        let (api, versions) = match api.split_once('@') {
            Some((api, versions)) => (api.trim(), Some(self.versions(versions.trim())?)),
            None => (api, None),
        };
        let mut matcher = FaultMatcher {
            api_key: self.api(api)?,
            versions,
            ..FaultMatcher::default()
        };
        for item in items {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let (key, value) = (key.trim(), value.trim());
            let slot = match key {
                "group" => &mut matcher.group_id,
                "client" => &mut matcher.client_id,
                "member" => &mut matcher.member_id,
                "txn" => &mut matcher.transactional_id,
                "epoch" => {
                    if matcher.member_epoch.is_some() {
                        return Err(self.duplicate(key));
                    }
                    let epoch = value.parse::<i32>().map_err(|_| {
                        self.bad_value(key, value, "a member epoch like -1 (a KIP-848 leave)")
                    })?;
                    matcher.member_epoch = Some(epoch);
                    continue;
                }
                "conn" => {
                    if matcher.connection.is_some() {
                        return Err(self.duplicate(key));
                    }
                    let number = value.strip_prefix("conn-").unwrap_or(value);
                    let id = number.parse::<u64>().map_err(|_| {
                        self.bad_value(key, value, "a connection number like 3 (for conn-3)")
                    })?;
                    matcher.connection = Some(ConnectionId(id));
                    continue;
                }
                _ => {
                    return Err(self.error(FaultSpecErrorKind::UnknownMatch {
                        key: key.to_owned(),
                        suggestion: closest(
                            key,
                            words(&["group", "client", "member", "txn", "conn", "epoch"]),
                        ),
                    }));
                }
            };
            if slot.is_some() {
                return Err(self.duplicate(key));
            }
            if value.is_empty() {
                return Err(self.bad_value(key, value, "a non-empty id"));
            }
            *slot = Some(value.to_owned());
        }
        Ok(matcher)
    }

    fn api(&self, text: &str) -> Result<Option<ApiKey>, FaultSpecError> {
        if text.is_empty() {
            return Err(self.error(FaultSpecErrorKind::MissingApi));
        }
        if text == "*" {
            return Ok(None);
        }
        let key = match text.parse::<i16>() {
            Ok(number) => ApiKey::try_from(number).ok(),
            Err(_) => api_key_by_name(text),
        };
        match key {
            Some(key) => Ok(Some(key)),
            None => Err(self.error(FaultSpecErrorKind::UnknownApi {
                name: text.to_owned(),
                suggestion: closest(text, ApiKey::iter().map(api_key_name)),
            })),
        }
    }

    fn versions(&self, text: &str) -> Result<VersionRange, FaultSpecError> {
        let bad = || {
            self.error(FaultSpecErrorKind::BadVersions {
                text: text.to_owned(),
            })
        };
        let number = |s: &str| s.trim().parse::<i16>().ok().filter(|v| *v >= 0);
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (number(min).ok_or_else(bad)?, number(max).ok_or_else(bad)?),
            None => {
                let version = number(text).ok_or_else(bad)?;
                (version, version)
            }
        };
        if min > max {
            return Err(bad());
        }
        Ok(VersionRange { min, max })
    }

    fn action(&self, text: &str) -> Result<FaultAction, FaultSpecError> {
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value.trim())),
            None => (text, None),
        };
        match (key, value) {
            ("delay", Some(value)) => Ok(FaultAction::DelayResponse(self.duration(key, value)?)),
            ("hold", Some(value)) => Ok(FaultAction::HoldRequest(self.duration(key, value)?)),
            ("error", Some(value)) => Ok(FaultAction::Error(self.error_code(value)?)),
            ("drop", None) => Ok(FaultAction::Drop),
            ("close", None | Some("before")) => Ok(FaultAction::CloseBefore),
            ("close", Some("after")) => Ok(FaultAction::CloseAfter),
            ("close", Some(value)) => Err(self.bad_value(key, value, "before or after")),
            ("delay" | "hold", None) => Err(self.error(FaultSpecErrorKind::BadDuration {
                key: key.to_owned(),
                text: String::new(),
            })),
            ("error", None) => Err(self.bad_value(key, "", "an error code or name")),
            _ => Err(self.error(FaultSpecErrorKind::UnknownAction {
                text: text.to_owned(),
                suggestion: closest(key, words(&["delay", "hold", "error", "drop", "close"])),
            })),
        }
    }

    fn trigger(&self, text: &str, trigger: &mut FaultTrigger) -> Result<(), FaultSpecError> {
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value.trim())),
            None => (text, None),
        };
        let count = |value: &str| {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| self.bad_value(key, value, "a whole number of at least 1"))
        };
        match (key, value) {
            ("always", None) => {}
            ("once", None) | ("times", Some(_)) => {
                if trigger.times.is_some() {
                    return Err(self.duplicate("times/once"));
                }
                trigger.times = Some(match value {
                    Some(value) => count(value)?,
                    None => 1,
                });
            }
            ("nth", Some(value)) => {
                if trigger.nth.is_some() {
                    return Err(self.duplicate(key));
                }
                trigger.nth = Some(count(value)?);
            }
            ("prob", Some(value)) => {
                if trigger.probability.is_some() {
                    return Err(self.duplicate(key));
                }
                let probability = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| {
                        self.bad_value(key, value, "a probability from 0 to 1 like 0.5")
                    })?;
                trigger.probability = Some(probability);
            }
            ("after", Some(value)) => {
                if trigger.after.is_some() {
                    return Err(self.duplicate(key));
                }
                trigger.after = Some(BrokerTime::from_start(self.duration(key, value)?));
            }
            ("before", Some(value)) => {
                if trigger.before.is_some() {
                    return Err(self.duplicate(key));
                }
                trigger.before = Some(BrokerTime::from_start(self.duration(key, value)?));
            }
            ("nth" | "times" | "prob" | "after" | "before", None) => {
                return Err(self.bad_value(key, "", "a value after '='"));
            }
            _ => {
                return Err(self.error(FaultSpecErrorKind::UnknownTrigger {
                    text: text.to_owned(),
                    suggestion: closest(
                        key,
                        words(&["always", "once", "nth", "times", "prob", "after", "before"]),
                    ),
                }));
            }
        }
        Ok(())
    }

    fn duration(&self, key: &str, text: &str) -> Result<Duration, FaultSpecError> {
        let bad = || {
            self.error(FaultSpecErrorKind::BadDuration {
                key: key.to_owned(),
                text: text.to_owned(),
            })
        };
        let (number, millis_per_unit) = if let Some(n) = text.strip_suffix("ms") {
            (n, 1)
        } else if let Some(n) = text.strip_suffix('s') {
            (n, 1_000)
        } else if let Some(n) = text.strip_suffix('m') {
            (n, 60_000)
        } else {
            return Err(bad());
        };
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let millis = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(millis_per_unit))
            .filter(|millis| *millis <= MAX_DURATION_MS)
            .ok_or_else(bad)?;
        Ok(Duration::from_millis(millis))
    }

    fn error_code(&self, text: &str) -> Result<i16, FaultSpecError> {
        if let Ok(code) = text.parse::<i16>() {
            return Ok(code);
        }
        error_code_by_name(text).ok_or_else(|| {
            self.error(FaultSpecErrorKind::UnknownErrorCode {
                name: text.to_owned(),
                suggestion: closest(text, error_codes().map(|(_, name)| name)),
            })
        })
    }
}

impl FromStr for FaultRule {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Parser { spec }.parse()
    }
}

/// Prints a duration the way the grammar reads it: whole seconds as `60s`, otherwise `250ms`
/// (sub-millisecond parts, which the grammar cannot express, are truncated).
struct DurationDisplay(Duration);

impl fmt::Display for DurationDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis > 0 && millis.is_multiple_of(1_000) {
            write!(f, "{}s", millis / 1_000)
        } else {
            write!(f, "{millis}ms")
        }
    }
}

/// Prints an action in the spec grammar (`delay=60s`, `error=rebalance_in_progress`, `close`).
pub(crate) struct ActionDisplay<'a>(pub(crate) &'a FaultAction);

impl fmt::Display for ActionDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FaultAction::DelayResponse(d) => write!(f, "delay={}", DurationDisplay(*d)),
            FaultAction::HoldRequest(d) => write!(f, "hold={}", DurationDisplay(*d)),
            FaultAction::Error(code) => match error_code_name(*code) {
                Some(name) => write!(f, "error={name}"),
                None => write!(f, "error={code}"),
            },
            FaultAction::Drop => f.write_str("drop"),
            FaultAction::CloseBefore => f.write_str("close"),
            FaultAction::CloseAfter => f.write_str("close=after"),
        }
    }
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ActionDisplay(self).fmt(f)
    }
}

impl fmt::Display for FaultRule {
    /// The canonical spec:
    /// `API[@VERSIONS][,group=][,client=][,member=][,txn=][,conn=][,epoch=]:ACTION` then the
    /// triggers in the order `once|times=`, `nth=`, `prob=`, `after=`, `before=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matcher = &self.matcher;
        match matcher.api_key {
            Some(key) => f.write_str(&api_key_name(key))?,
            None => f.write_str("*")?,
        }
        if let Some(VersionRange { min, max }) = matcher.versions {
            if min == max {
                write!(f, "@{min}")?;
            } else {
                write!(f, "@{min}-{max}")?;
            }
        }
        if let Some(group) = &matcher.group_id {
            write!(f, ",group={group}")?;
        }
        if let Some(client) = &matcher.client_id {
            write!(f, ",client={client}")?;
        }
        if let Some(member) = &matcher.member_id {
            write!(f, ",member={member}")?;
        }
        if let Some(txn) = &matcher.transactional_id {
            write!(f, ",txn={txn}")?;
        }
        if let Some(ConnectionId(connection)) = matcher.connection {
            write!(f, ",conn={connection}")?;
        }
        if let Some(epoch) = matcher.member_epoch {
            write!(f, ",epoch={epoch}")?;
        }
        write!(f, ":{}", ActionDisplay(&self.action))?;
        let trigger = &self.trigger;
        match trigger.times {
            Some(1) => f.write_str(",once")?,
            Some(times) => write!(f, ",times={times}")?,
            None => {}
        }
        if let Some(nth) = trigger.nth {
            write!(f, ",nth={nth}")?;
        }
        if let Some(probability) = trigger.probability {
            write!(f, ",prob={probability}")?;
        }
        if let Some(after) = trigger.after {
            write!(f, ",after={}", DurationDisplay(after.since_start()))?;
        }
        if let Some(before) = trigger.before {
            write!(f, ",before={}", DurationDisplay(before.since_start()))?;
        }
        Ok(())
    }
}
