//! Broker settings. Names follow Kafka's broker configs (`group.min.session.timeout.ms` becomes
//! `group_min_session_timeout_ms`); units are last in every name.

use std::time::Duration;

/// Everything the broker core needs to know that is not a request.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Node id of this (single) broker. Kafka's `node.id`.
    pub node_id: i32,
    /// Host name advertised in Metadata and FindCoordinator. The server sets it to the bound address.
    pub advertised_host: String,
    /// Port advertised in Metadata and FindCoordinator.
    pub advertised_port: i32,
    /// Cluster id returned in Metadata.
    pub cluster_id: String,
    /// Create a topic when a Metadata request names one that does not exist
    /// (`auto.create.topics.enable`; Produce never creates topics, as in Kafka).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (`num.partitions`).
    pub default_partitions: i32,
    /// Lowest session timeout a member may ask for (`group.min.session.timeout.ms`).
    pub group_min_session_timeout_ms: i32,
    /// Highest session timeout a member may ask for (`group.max.session.timeout.ms`).
    pub group_max_session_timeout_ms: i32,
    /// How long the first join to an empty group waits for more members
    /// (`group.initial.rebalance.delay.ms`). 0 is the useful value for tests.
    pub group_initial_rebalance_delay_ms: i32,
    /// Most members one group may hold (`group.max.size`); a peer must not grow state without bound.
    pub group_max_size: usize,
    /// Longest transaction timeout a transactional producer may ask for in InitProducerId
    /// (`transaction.max.timeout.ms`; beyond: INVALID_TRANSACTION_TIMEOUT).
    pub transaction_max_timeout_ms: i32,
    /// Session timeout of KIP-848 consumer group members (`group.consumer.session.timeout.ms`):
    /// the broker decides it, not the member.
    pub group_consumer_session_timeout_ms: i32,
    /// Lower bound of `group_consumer_session_timeout_ms` (`group.consumer.min.session.timeout.ms`).
    pub group_consumer_min_session_timeout_ms: i32,
    /// Upper bound of `group_consumer_session_timeout_ms` (`group.consumer.max.session.timeout.ms`).
    pub group_consumer_max_session_timeout_ms: i32,
    /// Heartbeat interval told to KIP-848 consumer group members
    /// (`group.consumer.heartbeat.interval.ms`); must be below the session timeout.
    pub group_consumer_heartbeat_interval_ms: i32,
    /// Lower bound of `group_consumer_heartbeat_interval_ms`
    /// (`group.consumer.min.heartbeat.interval.ms`).
    pub group_consumer_min_heartbeat_interval_ms: i32,
    /// Upper bound of `group_consumer_heartbeat_interval_ms`
    /// (`group.consumer.max.heartbeat.interval.ms`).
    pub group_consumer_max_heartbeat_interval_ms: i32,
    /// Most members one KIP-848 consumer group may hold (`group.consumer.max.size`; Kafka's
    /// default is unbounded, kmock's is `group_max_size`'s, since a peer controls it).
    pub group_consumer_max_size: usize,
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub max_frame_bytes: usize,
    /// Entries kept in the request log; when it is full the oldest entry is evicted (FIFO), and
    /// `RequestLog::evicted` counts the evictions.
    pub request_log_capacity: usize,
    /// Most connections served at once (Kafka's `max.connections`). A connection accepted beyond
    /// it is closed at once, with a logged reason; the ones already open are not affected.
    pub max_connections: usize,
    /// Seed of the broker's PRNG (fault probabilities, generated member and topic ids).
    pub seed: u64,
    /// The broker's wall clock at broker time zero, in Unix milliseconds: the broker reads its
    /// wall clock (LogAppendTime stamps, timestamp limits, time-based retention) as this plus
    /// the broker time its driver gives it, never from the system. 0 (the default) keeps a run
    /// deterministic (the simulation); `kmock serve` sets the real time at start.
    pub wall_clock_start_unix_ms: i64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 0,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            cluster_id: "kmock-cluster".into(),
            auto_create_topics: true,
            default_partitions: 1,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: 1_000,
            transaction_max_timeout_ms: 900_000,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_min_session_timeout_ms: 45_000,
            group_consumer_max_session_timeout_ms: 60_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_min_heartbeat_interval_ms: 5_000,
            group_consumer_max_heartbeat_interval_ms: 15_000,
            group_consumer_max_size: 1_000,
            max_frame_bytes: kmock_wire::DEFAULT_MAX_FRAME_BYTES,
            request_log_capacity: 100_000,
            max_connections: 10_000,
            seed: 0,
            wall_clock_start_unix_ms: 0,
        }
    }
}

/// A setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that must be positive is not.
    #[error("{name} must be positive, got {value}")]
    NotPositive {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// A value that must not be negative is.
    #[error("{name} must not be negative, got {value}")]
    Negative {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// A KIP-848 group setting outside its bounds, or a heartbeat interval not below the session
    /// timeout (Kafka's `GroupCoordinatorConfig` requirements).
    #[error("{name} ({value}) must be {rule}")]
    OutOfBounds {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: i64,
        /// What it must be, e.g. "at least group_consumer_min_session_timeout_ms (45000)".
        rule: String,
    },
    /// Min above max.
    #[error(
        "group_min_session_timeout_ms ({min}) must not exceed group_max_session_timeout_ms ({max})"
    )]
    SessionTimeoutBounds {
        /// The lower bound.
        min: i32,
        /// The upper bound.
        max: i32,
    },
}

impl BrokerConfig {
    /// Checks the settings; the core is only ever built from a validated config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("default_partitions", i64::from(self.default_partitions)),
            (
                "group_min_session_timeout_ms",
                i64::from(self.group_min_session_timeout_ms),
            ),
            (
                "group_max_session_timeout_ms",
                i64::from(self.group_max_session_timeout_ms),
            ),
            ("group_max_size", self.group_max_size as i64),
            (
                "transaction_max_timeout_ms",
                i64::from(self.transaction_max_timeout_ms),
            ),
            (
                "group_consumer_session_timeout_ms",
                i64::from(self.group_consumer_session_timeout_ms),
            ),
            (
                "group_consumer_min_session_timeout_ms",
                i64::from(self.group_consumer_min_session_timeout_ms),
            ),
            (
                "group_consumer_max_session_timeout_ms",
                i64::from(self.group_consumer_max_session_timeout_ms),
            ),
            (
                "group_consumer_heartbeat_interval_ms",
                i64::from(self.group_consumer_heartbeat_interval_ms),
            ),
            (
                "group_consumer_min_heartbeat_interval_ms",
                i64::from(self.group_consumer_min_heartbeat_interval_ms),
            ),
            (
                "group_consumer_max_heartbeat_interval_ms",
                i64::from(self.group_consumer_max_heartbeat_interval_ms),
            ),
            (
                "group_consumer_max_size",
                self.group_consumer_max_size as i64,
            ),
            ("max_frame_bytes", self.max_frame_bytes as i64),
            ("request_log_capacity", self.request_log_capacity as i64),
            ("max_connections", self.max_connections as i64),
        ];
        for (name, value) in positive {
            if value <= 0 {
                return Err(ConfigError::NotPositive { name, value });
            }
        }
        if self.group_initial_rebalance_delay_ms < 0 {
            return Err(ConfigError::Negative {
                name: "group_initial_rebalance_delay_ms",
                value: self.group_initial_rebalance_delay_ms.into(),
            });
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return Err(ConfigError::SessionTimeoutBounds {
                min: self.group_min_session_timeout_ms,
                max: self.group_max_session_timeout_ms,
            });
        }
        self.validate_consumer_group_bounds()
    }

    /// Kafka's `GroupCoordinatorConfig` requirements on the KIP-848 settings, in its order.
    fn validate_consumer_group_bounds(&self) -> Result<(), ConfigError> {
        let heartbeat = i64::from(self.group_consumer_heartbeat_interval_ms);
        let min_heartbeat = i64::from(self.group_consumer_min_heartbeat_interval_ms);
        let max_heartbeat = i64::from(self.group_consumer_max_heartbeat_interval_ms);
        let session = i64::from(self.group_consumer_session_timeout_ms);
        let min_session = i64::from(self.group_consumer_min_session_timeout_ms);
        let max_session = i64::from(self.group_consumer_max_session_timeout_ms);
        let checks: [(&'static str, i64, bool, String); 7] = [
            (
                "group_consumer_max_heartbeat_interval_ms",
                max_heartbeat,
                max_heartbeat >= min_heartbeat,
                format!("at least group_consumer_min_heartbeat_interval_ms ({min_heartbeat})"),
            ),
            (
                "group_consumer_heartbeat_interval_ms",
                heartbeat,
                heartbeat >= min_heartbeat,
                format!("at least group_consumer_min_heartbeat_interval_ms ({min_heartbeat})"),
            ),
            (
                "group_consumer_heartbeat_interval_ms",
                heartbeat,
                heartbeat <= max_heartbeat,
                format!("at most group_consumer_max_heartbeat_interval_ms ({max_heartbeat})"),
            ),
            (
                "group_consumer_max_session_timeout_ms",
                max_session,
                max_session >= min_session,
                format!("at least group_consumer_min_session_timeout_ms ({min_session})"),
            ),
            (
                "group_consumer_session_timeout_ms",
                session,
                session >= min_session,
                format!("at least group_consumer_min_session_timeout_ms ({min_session})"),
            ),
            (
                "group_consumer_session_timeout_ms",
                session,
                session <= max_session,
                format!("at most group_consumer_max_session_timeout_ms ({max_session})"),
            ),
            (
                "group_consumer_heartbeat_interval_ms",
                heartbeat,
                heartbeat < session,
                format!("below group_consumer_session_timeout_ms ({session})"),
            ),
        ];
        for (name, value, holds, rule) in checks {
            if !holds {
                return Err(ConfigError::OutOfBounds { name, value, rule });
            }
        }
        Ok(())
    }

    /// The KIP-848 session timeout as a duration.
    pub fn consumer_session_timeout(&self) -> Duration {
        Duration::from_millis(self.group_consumer_session_timeout_ms.max(0) as u64)
    }

    /// The initial rebalance delay as a duration.
    pub fn initial_rebalance_delay(&self) -> Duration {
        Duration::from_millis(self.group_initial_rebalance_delay_ms.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        BrokerConfig::default().validate().unwrap();
    }

    #[test]
    fn min_session_timeout_above_max_is_rejected() {
        let config = BrokerConfig {
            group_min_session_timeout_ms: 10,
            group_max_session_timeout_ms: 5,
            ..BrokerConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::SessionTimeoutBounds { min: 10, max: 5 })
        );
    }

    #[test]
    fn consumer_heartbeat_interval_must_be_below_the_session_timeout() {
        let config = BrokerConfig {
            group_consumer_session_timeout_ms: 6_000,
            group_consumer_min_session_timeout_ms: 1_000,
            group_consumer_heartbeat_interval_ms: 6_000,
            group_consumer_min_heartbeat_interval_ms: 100,
            ..BrokerConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::OutOfBounds {
                name: "group_consumer_heartbeat_interval_ms",
                value: 6_000,
                ..
            })
        ));
    }

    #[test]
    fn consumer_session_timeout_below_its_minimum_is_rejected() {
        let config = BrokerConfig {
            group_consumer_session_timeout_ms: 6_000,
            ..BrokerConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "group_consumer_session_timeout_ms (6000) must be at least \
             group_consumer_min_session_timeout_ms (45000)"
        );
    }

    #[test]
    fn zero_max_connections_is_rejected() {
        let config = BrokerConfig {
            max_connections: 0,
            ..BrokerConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NotPositive {
                name: "max_connections",
                ..
            })
        ));
    }

    #[test]
    fn zero_partitions_is_rejected() {
        let config = BrokerConfig {
            default_partitions: 0,
            ..BrokerConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NotPositive {
                name: "default_partitions",
                ..
            })
        ));
    }
}
