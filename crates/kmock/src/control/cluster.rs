//! The control API's cluster routes: `GET /cluster`, `POST /brokers/{id}/down|up`,
//! `POST /topics/{t}/partitions/{p}/leader|isr`, `POST /groups/{g}/coordinator`,
//! `POST /transactions/{id}/coordinator`. Each calls one `MockBroker` method; an unknown broker
//! or partition is 404, an operation that cannot be done (a leader outside the ISR, a broker
//! that is down) 400, both with the reason.

use kmock_broker::{ClusterSummary, LeadershipChanges, MockBrokerError, PartitionLeadership};
use serde_json::{Value, json};

use super::{Answer, Control, failed, percent_decode, query_pairs};

/// `GET /cluster` as JSON.
pub(super) fn cluster_json(cluster: &ClusterSummary) -> Value {
    json!({
        "controller_id": cluster.controller_id,
        "brokers": cluster.brokers.iter().map(|b| json!({
            "node_id": b.node_id,
            "host": b.host,
            "port": b.port,
            "up": b.up,
        })).collect::<Vec<_>>(),
        "partitions": cluster.partitions.iter().map(|p| {
            let mut value = leadership_json(&p.leadership);
            value["topic"] = json!(p.topic);
            value["partition"] = json!(p.partition);
            value
        }).collect::<Vec<_>>(),
        "group_coordinators": cluster.group_coordinators.iter()
            .map(|(group, node)| json!({ "group": group, "node_id": node }))
            .collect::<Vec<_>>(),
        "transaction_coordinators": cluster.transaction_coordinators.iter()
            .map(|(id, node)| json!({ "transactional_id": id, "node_id": node }))
            .collect::<Vec<_>>(),
    })
}

fn leadership_json(leadership: &PartitionLeadership) -> Value {
    json!({
        "leader": leadership.leader,
        "leader_epoch": leadership.leader_epoch,
        "replicas": leadership.replicas,
        "isr": leadership.isr,
    })
}

/// What an operation moved, as JSON.
fn changes_json(changes: &LeadershipChanges) -> Value {
    json!({
        "moved_partitions": changes.partitions.iter()
            .map(|(topic, partition)| json!({ "topic": topic, "partition": partition }))
            .collect::<Vec<_>>(),
        "moved_group_partitions": changes.group_partitions,
        "moved_transaction_partitions": changes.transaction_partitions,
    })
}

/// The answer to an operation: what moved, or why not (404 for what does not exist).
fn outcome(result: Result<LeadershipChanges, MockBrokerError>) -> Answer {
    match result {
        Ok(changes) => Answer::ok(changes_json(&changes)),
        Err(MockBrokerError::Cluster(error)) if error.is_not_found() => {
            Answer::error(404, error.to_string())
        }
        Err(MockBrokerError::Cluster(error)) => Answer::error(400, error.to_string()),
        Err(error) => failed(&error),
    }
}

/// A number from a path segment.
fn number(what: &str, text: &str) -> Result<i32, Answer> {
    text.parse()
        .map_err(|_| Answer::error(400, format!("{what} {text:?} is not a number")))
}

/// The `field` of a JSON body, or of the query (`?node=1`).
fn body_or_query(body: &[u8], query: &str, field: &str) -> Result<Value, Answer> {
    if let Some((_, value)) = query_pairs(query).into_iter().find(|(k, _)| k == field) {
        return serde_json::from_str(&value)
            .map_err(|_| Answer::error(400, format!("{field}={value:?} is not a JSON value")));
    }
    let example = format!("expected a JSON body {{\"{field}\": ...}} or ?{field}=");
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Answer::error(400, format!("body is not valid JSON ({e}): {example}")))?;
    let Some(object) = value.as_object() else {
        return Err(Answer::error(400, example));
    };
    if let Some(unknown) = object.keys().find(|k| *k != field) {
        return Err(Answer::error(
            400,
            format!("unknown field {unknown:?}: the only field is {field:?}"),
        ));
    }
    object
        .get(field)
        .cloned()
        .ok_or_else(|| Answer::error(400, example))
}

/// The `node` of a body or query.
fn node(body: &[u8], query: &str) -> Result<i32, Answer> {
    let value = body_or_query(body, query, "node")?;
    value
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| Answer::error(400, format!("node {value} is not a node id")))
}

impl Control {
    /// Routes the cluster paths; `None` for other paths.
    pub(super) async fn cluster_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        body: &[u8],
    ) -> Option<Answer> {
        let answer = match (method, segments) {
            ("GET", ["cluster"]) => match self.broker.cluster().await {
                Ok(cluster) => Answer::ok(cluster_json(&cluster)),
                Err(error) => failed(&error),
            },
            ("POST", ["brokers", id, action @ ("down" | "up")]) => {
                let node = match number("broker id", id) {
                    Ok(node) => node,
                    Err(answer) => return Some(answer),
                };
                if *action == "down" {
                    outcome(self.broker.broker_down(node).await)
                } else {
                    outcome(self.broker.broker_up(node).await)
                }
            }
            (
                "POST",
                [
                    "topics",
                    topic,
                    "partitions",
                    partition,
                    action @ ("leader" | "isr"),
                ],
            ) => {
                let topic = percent_decode(topic);
                let partition = match number("partition", partition) {
                    Ok(partition) => partition,
                    Err(answer) => return Some(answer),
                };
                match *action {
                    "leader" => match node(body, query) {
                        Ok(node) => outcome(self.broker.move_leader(&topic, partition, node).await),
                        Err(answer) => answer,
                    },
                    _ => match isr(body, query) {
                        Ok(isr) => outcome(self.broker.set_isr(&topic, partition, isr).await),
                        Err(answer) => answer,
                    },
                }
            }
            ("POST", ["groups", group, "coordinator"]) => match node(body, query) {
                Ok(node) => outcome(
                    self.broker
                        .move_group_coordinator(&percent_decode(group), node)
                        .await,
                ),
                Err(answer) => answer,
            },
            ("POST", ["transactions", id, "coordinator"]) => match node(body, query) {
                Ok(node) => outcome(
                    self.broker
                        .move_transaction_coordinator(&percent_decode(id), node)
                        .await,
                ),
                Err(answer) => answer,
            },
            _ => return None,
        };
        Some(answer)
    }
}

/// The `isr` of a body or query: a list of node ids.
fn isr(body: &[u8], query: &str) -> Result<Vec<i32>, Answer> {
    let value = body_or_query(body, query, "isr")?;
    value
        .as_array()
        .and_then(|nodes| {
            nodes
                .iter()
                .map(|n| n.as_i64().and_then(|n| i32::try_from(n).ok()))
                .collect::<Option<Vec<i32>>>()
        })
        .ok_or_else(|| Answer::error(400, format!("isr {value} is not a list of node ids")))
}
