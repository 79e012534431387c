//! A world built from a scenario and a seed: one current-thread tokio runtime with paused time, the
//! broker on the simulated [`Network`], producers and consumer pools from the client crate, fault
//! rules, and the timeline run step by step.
//!
//! Randomness comes from one ChaCha8 PRNG seeded with the run's seed; every value drawn from it
//! (the broker seed, record keys) is logged in the trace header or the trace. Time is
//! `tokio::time` only. Pools are driven member by member (each a client-crate [`Consumer`] on the
//! pool's shared cluster handle) so each member's teardown can be timed; a pool stop gives every
//! member the same deadline (`request_timeout` from the stop), as `ConsumerPool::stop` does.
//!
//! Owns: the run. Must not: read the wall clock, iterate hash maps, use unbiased `select!`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kmock_broker::server::{Broker, BrokerHandle};
use kmock_broker::{BrokerConfig, FaultRule};
use kmock_client::producer::WallClock;
use kmock_client::{
    Cluster, ClusterOptions, Consumer, GroupProtocol, MemberState, Producer, Settings,
};
use kmock_core::BrokerCore;
use kmock_core::group::GroupSummary;
use kmock_core::group::consumer::ConsumerGroupSummary;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::network::Network;
use crate::scenario::{Action, ActorKind, ClusterEvent, FaultKind, NetworkFault, Scenario};
use crate::trace::{EventText, MemberObservation, Name, Recorder, assignment};

/// Record timestamps are this epoch plus virtual time (2026-01-01T00:00:00Z).
const EPOCH_MS: i64 = 1_767_225_600_000;

/// What a run leaves behind for the checkers and the trace.
#[derive(Debug)]
pub struct WorldOutcome {
    /// Trace header lines (the seed and everything derived from it).
    pub header: Vec<String>,
    /// The recorder with everything observed.
    pub recorder: Recorder,
    /// The broker's state machine as the run left it (taken out of the broker task, not copied):
    /// its request log is what the trace is rendered from. `None` if the broker never started.
    pub broker: Option<BrokerCore>,
    /// Final broker view of each pool's group.
    pub groups: BTreeMap<String, Option<GroupSummary>>,
    /// Final broker view of each pool's KIP-848 consumer group (`KAFKA_GROUP_PROTOCOL=consumer`).
    pub consumer_groups: BTreeMap<String, Option<ConsumerGroupSummary>>,
    /// Virtual time at the end of the timeline.
    pub virtual_time: Duration,
}

enum MemberCommand {
    Stop {
        deadline: Instant,
        done: oneshot::Sender<()>,
    },
    Crash,
}

struct PoolRuntime {
    cluster: Cluster,
    members: Vec<(String, mpsc::UnboundedSender<MemberCommand>)>,
}

struct ProducerRuntime {
    producer: Producer,
    cluster: Cluster,
    topic: String,
    next: u64,
}

struct PipelineRuntime {
    cluster: Cluster,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct World<'a> {
    /// Borrowed for the run: the world runs inside `block_on`, and no task it spawns reads it.
    scenario: &'a Scenario,
    broker: BrokerHandle,
    network: Network,
    recorder: Recorder,
    rng: ChaCha8Rng,
    /// The run's seed (KIP-848 member ids derive from it).
    seed: u64,
    pools: BTreeMap<String, PoolRuntime>,
    producers: BTreeMap<String, ProducerRuntime>,
    pipelines: BTreeMap<String, PipelineRuntime>,
}

/// Runs `scenario` with `seed` on a fresh current-thread runtime with paused time. The world
/// borrows the scenario for the run (no copy of it).
pub fn run(scenario: &Scenario, seed: u64) -> WorldOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(run_world(scenario, seed))
}

/// [`run`] for a scenario the caller shares.
pub fn run_shared(scenario: Arc<Scenario>, seed: u64) -> WorldOutcome {
    run(&scenario, seed)
}

fn settings_line(settings: &Settings) -> String {
    format!(
        "session_timeout_ms={} heartbeat_interval_ms={} request_timeout_ms={} consumer_pool_size={} auto_offset_reset={:?} enable_auto_commit={}",
        settings.session_timeout_ms,
        settings.heartbeat_interval_ms,
        settings.request_timeout_ms,
        settings.consumer_pool_size,
        settings.auto_offset_reset,
        settings.enable_auto_commit
    ) + match settings.group_protocol {
        // Only KIP-848 scenarios say so (older traces stay as they were).
        GroupProtocol::Consumer => " group_protocol=consumer",
        GroupProtocol::Classic => "",
    }
}

/// Appends `n` in decimal, as `format!("{n}")` writes it.
fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// Mixed into the seed for KIP-848 member ids ("kmockMID").
const MEMBER_ID_SALT: u64 = 0x6b6d_6f63_6b4d_4944;

async fn run_world(scenario: &Scenario, seed: u64) -> WorldOutcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let broker_seed: u64 = rng.random();
    let defaults = BrokerConfig::default();
    let consumer_session = scenario.broker.consumer_session_timeout_ms;
    let consumer_heartbeat = scenario.broker.consumer_heartbeat_interval_ms;
    let config = BrokerConfig {
        group_initial_rebalance_delay_ms: scenario.broker.initial_rebalance_delay_ms,
        group_min_session_timeout_ms: scenario.broker.min_session_timeout_ms,
        group_max_session_timeout_ms: scenario.broker.max_session_timeout_ms,
        default_partitions: scenario.broker.default_partitions,
        group_consumer_session_timeout_ms: consumer_session
            .unwrap_or(defaults.group_consumer_session_timeout_ms),
        group_consumer_min_session_timeout_ms: consumer_session
            .map_or(defaults.group_consumer_min_session_timeout_ms, |v| {
                v.min(defaults.group_consumer_min_session_timeout_ms)
            }),
        group_consumer_heartbeat_interval_ms: consumer_heartbeat
            .unwrap_or(defaults.group_consumer_heartbeat_interval_ms),
        group_consumer_min_heartbeat_interval_ms: consumer_heartbeat
            .map_or(defaults.group_consumer_min_heartbeat_interval_ms, |v| {
                v.min(defaults.group_consumer_min_heartbeat_interval_ms)
            }),
        advertised_host: "kmock".into(),
        advertised_port: i32::from(crate::network::FIRST_PORT),
        brokers: scenario.broker.brokers,
        default_replication_factor: scenario.broker.default_replication_factor,
        seed: broker_seed,
        ..defaults
    };
    let mut broker_line = format!(
        "broker: initial_rebalance_delay_ms={} min_session_timeout_ms={} max_session_timeout_ms={}",
        config.group_initial_rebalance_delay_ms,
        config.group_min_session_timeout_ms,
        config.group_max_session_timeout_ms
    );
    // KIP-848 options only when a scenario sets them (older traces stay as they were).
    if consumer_session.is_some() || consumer_heartbeat.is_some() {
        broker_line.push_str(&format!(
            " consumer_session_timeout_ms={} consumer_heartbeat_interval_ms={}",
            config.group_consumer_session_timeout_ms, config.group_consumer_heartbeat_interval_ms
        ));
    }
    // Cluster options only when a scenario sets them (older traces stay as they were).
    if config.brokers != 1 || config.default_replication_factor != 1 {
        broker_line.push_str(&format!(
            " brokers={} default_replication_factor={}",
            config.brokers, config.default_replication_factor
        ));
    }
    let header = vec![
        format!("scenario {} seed={seed}", scenario.name),
        format!("derived from the seed: broker_seed={broker_seed:#018x}"),
        format!(
            "settings ({}): {}",
            scenario.settings_source,
            settings_line(&scenario.settings)
        ),
        broker_line,
    ];
    let recorder = Recorder::new();
    recorder.lock().brokers = config.brokers;
    let broker = match Broker::start(config) {
        Ok(broker) => broker,
        Err(error) => {
            recorder.fail(format!("invalid broker config: {error}"));
            return WorldOutcome {
                header,
                recorder,
                broker: None,
                groups: BTreeMap::new(),
                consumer_groups: BTreeMap::new(),
                virtual_time: Duration::ZERO,
            };
        }
    };
    for (topic, partitions) in &scenario.topics {
        let name = topic.clone();
        let partitions = *partitions;
        let created = broker
            .update(move |core| core.create_topic(&name, partitions))
            .await;
        recorder.event(
            "world",
            format!(
                "topic {topic} partitions={partitions}{}",
                match created {
                    Ok(Ok(())) => String::new(),
                    Ok(Err(error)) => format!(" (not created: error {})", error.code()),
                    Err(e) => format!(" (not created: {e})"),
                }
            ),
        );
    }
    let network = Network::new(broker.clone(), recorder.clone())
        .with_brokers(scenario.broker.brokers)
        .with_faults_only_for(network_fault_actors(scenario));
    let mut world = World {
        scenario,
        broker: broker.clone(),
        network,
        recorder: recorder.clone(),
        rng,
        seed,
        pools: BTreeMap::new(),
        producers: BTreeMap::new(),
        pipelines: BTreeMap::new(),
    };
    world.schedule_faults().await;

    let timeline = world.run_timeline();
    let completed = tokio::time::timeout(scenario.max_virtual, timeline).await;
    if completed.is_err() {
        recorder.fail(format!(
            "the timeline did not finish within max_virtual_ms={}",
            scenario.max_virtual.as_millis()
        ));
    }
    let virtual_time = recorder.now();

    let mut groups = BTreeMap::new();
    let mut consumer_groups = BTreeMap::new();
    for actor in &scenario.actors {
        if let ActorKind::Pool { group, .. } = &actor.kind {
            let id = group.clone();
            let summaries = broker
                .inspect(move |core| (core.groups().group(&id), core.groups().consumer_group(&id)))
                .await
                .ok();
            let (summary, consumer_summary) = summaries.unwrap_or((None, None));
            groups.insert(group.clone(), summary);
            consumer_groups.insert(group.clone(), consumer_summary);
        }
    }
    // The core itself, swapped for an empty one: its request log (a few hundred decoded requests
    // and responses) is read in place by the trace instead of being copied out. Nothing runs in
    // the world after this; whatever is still running is dropped with the runtime.
    let core = broker
        .update(|core| {
            let empty = BrokerCore::new(core.config().clone());
            std::mem::replace(core, empty)
        })
        .await
        .ok();
    WorldOutcome {
        header,
        recorder,
        broker: core,
        groups,
        consumer_groups,
        virtual_time,
    }
}

impl<'a> World<'a> {
    async fn schedule_faults(&mut self) {
        for fault in &self.scenario.faults {
            let broker = self.broker.clone();
            let network = self.network.clone();
            let recorder = self.recorder.clone();
            let fault = fault.clone();
            let apply = async move {
                tokio::time::sleep_until(recorder_start(&recorder) + fault.at).await;
                match &fault.kind {
                    FaultKind::Broker(rule) => {
                        let text = rule.to_string();
                        if let Ok(id) = broker.add_fault(rule.clone()).await {
                            recorder
                                .event("world", format!("fault rule {} installed: {text}", id.0));
                            if let Some(until) = fault.until {
                                tokio::time::sleep_until(recorder_start(&recorder) + until).await;
                                let _ = broker.remove_fault(id).await;
                                recorder.event("world", format!("fault rule {} removed", id.0));
                            }
                        }
                    }
                    FaultKind::Cluster(event) => {
                        scheduled_cluster_event(&broker, &recorder, event, fault.until).await;
                    }
                    FaultKind::Network { actor, fault: kind } => {
                        apply_network(&network, &recorder, actor, kind);
                        if let Some(until) = fault.until {
                            tokio::time::sleep_until(recorder_start(&recorder) + until).await;
                            network.heal(actor);
                            recorder.event(actor, "network healed");
                        }
                    }
                }
            };
            if fault.at.is_zero() && fault.until.is_none() {
                // Installed before the timeline starts (in file order).
                apply.await;
            } else {
                tokio::spawn(apply);
            }
        }
    }

    async fn run_timeline(&mut self) {
        let scenario = self.scenario;
        for (index, step) in scenario.timeline.iter().enumerate() {
            if let Some(at) = step.at {
                tokio::time::sleep_until(recorder_start(&self.recorder) + at).await;
            }
            if let Err(message) = self.step(&step.action).await {
                self.recorder.fail(format!(
                    "step {} (line {}): {message}",
                    index + 1,
                    step.position
                ));
                return;
            }
        }
        self.recorder.event("world", "timeline done");
    }

    async fn connect(&self, actor: &str, group: Option<&str>) -> Result<Cluster, String> {
        let settings = Settings {
            client_id: actor.to_owned(),
            group_id: group.map_or_else(|| self.scenario.settings.group_id.clone(), str::to_owned),
            ..self.scenario.settings.clone()
        };
        // KIP-848 member ids are made by the client: from the run's seed and the actor's name, so
        // a seed reproduces them (the broker's assignors order members by id). Not drawn from the
        // world's PRNG, whose sequence the other draws rely on.
        let member_id_seed = actor
            .bytes()
            .fold(self.seed ^ MEMBER_ID_SALT, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        Cluster::connect_with(
            settings,
            self.network.connector(actor),
            ClusterOptions::default().with_member_id_seed(member_id_seed),
        )
        .await
        .map_err(|e| format!("{actor} cannot connect: {e}"))
    }

    async fn step(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Start(name) => self.start_actor(name).await,
            Action::WaitStable(name, timeout) => self.wait_stable(name, *timeout).await,
            Action::WaitRebalance(name, timeout) => self.wait_rebalance(name, *timeout).await,
            Action::WaitDelivered(name, timeout) => self.wait_delivered(name, *timeout).await,
            Action::WaitProcessed(name, timeout) => self.wait_processed(name, *timeout).await,
            Action::Produce(name, count) => self.produce(name, *count).await,
            Action::Stop(name) if self.pipelines.contains_key(name) => {
                self.stop_pipeline(name).await
            }
            Action::Stop(name) => self.stop_pool(name).await,
            Action::Crash(name, index) => self.crash_member(name, *index).await,
            Action::Fault(rule) => self.install_fault(rule).await,
            Action::ClearFaults => self.clear_faults().await,
            Action::Network(actor, fault) => {
                apply_network(&self.network, &self.recorder, actor, fault);
                Ok(())
            }
            Action::Heal(actor) => {
                self.network.heal(actor);
                self.recorder.event(actor, "network healed");
                Ok(())
            }
            Action::Sleep(duration) => {
                tokio::time::sleep(*duration).await;
                Ok(())
            }
            Action::Cluster(event) => self.cluster_event(event).await,
        }
    }

    /// A cluster event on the broker core, recorded in the trace.
    async fn cluster_event(&self, event: &ClusterEvent) -> Result<(), String> {
        apply_cluster_event(&self.broker, &self.recorder, event).await
    }

    /// `start`: connects a producer, or connects a pool and starts its members.
    async fn start_actor(&mut self, name: &str) -> Result<(), String> {
        let scenario: &'a Scenario = self.scenario;
        let actor = scenario
            .actors
            .iter()
            .find(|a| a.name == name)
            .expect("checked by the scenario parser");
        match &actor.kind {
            ActorKind::Producer { topic, .. } => self.start_producer(name, topic).await,
            ActorKind::Pool {
                topics,
                size,
                group,
            } => self.start_pool(name, topics, *size, group).await,
            ActorKind::Pipeline {
                input,
                output,
                group,
                transactional_id,
                batch,
                transaction_timeout,
            } => {
                let spec = crate::pipeline::PipelineSpec {
                    name: name.to_owned(),
                    input: input.clone(),
                    output: output.clone(),
                    group: group.clone(),
                    transactional_id: transactional_id.clone(),
                    batch: *batch,
                    transaction_timeout: *transaction_timeout,
                };
                self.start_pipeline(spec).await
            }
        }
    }

    /// The record timestamps of the world's clients: the epoch plus virtual time.
    fn clock(&self) -> WallClock {
        let recorder = self.recorder.clone();
        Arc::new(move || EPOCH_MS + i64::try_from(recorder.now().as_millis()).unwrap_or(0))
    }

    /// A pipeline: its own cluster handle (read_committed, its group), one task.
    async fn start_pipeline(&mut self, spec: crate::pipeline::PipelineSpec) -> Result<(), String> {
        let name = spec.name.clone();
        self.recorder.event(
            &name,
            format!(
                "start pipeline {} -> {} (group {}, transactional.id {}, batch {})",
                spec.input, spec.output, spec.group, spec.transactional_id, spec.batch
            ),
        );
        let settings = crate::pipeline::settings(&self.scenario.settings, &spec);
        let cluster = Cluster::connect(settings, self.network.connector(&name))
            .await
            .map_err(|e| format!("{name} cannot connect: {e}"))?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(crate::pipeline::run(
            spec,
            cluster.clone(),
            self.clock(),
            self.recorder.clone(),
            stopped,
        ));
        self.pipelines.insert(
            name,
            PipelineRuntime {
                cluster,
                stop,
                task,
            },
        );
        Ok(())
    }

    /// `wait_processed`: the pipeline's group committed offsets past every record in its input
    /// (the broker's view: what a restart would resume from).
    async fn wait_processed(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let Some(ActorKind::Pipeline { input, group, .. }) = self
            .scenario
            .actors
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.kind.clone())
        else {
            return Err(format!("actor {name} is not a pipeline"));
        };
        let poll = Duration::from_millis(100);
        let waiting = async {
            loop {
                let (input, group) = (input.clone(), group.clone());
                let done = self
                    .broker
                    .inspect(move |core| {
                        let partitions = core.logs().partition_count(&input).unwrap_or(0);
                        (0..partitions).all(|p| {
                            let end = core.logs().high_watermark(&input, p).unwrap_or(0);
                            end == 0
                                || core
                                    .groups()
                                    .committed_offset(&group, &input, p)
                                    .is_some_and(|committed| committed >= end)
                        })
                    })
                    .await
                    .unwrap_or(false);
                if done {
                    return;
                }
                tokio::time::sleep(poll).await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.map_err(|_| {
            format!(
                "wait_processed {name} timed out after {}ms",
                timeout.as_millis()
            )
        })?;
        self.recorder
            .event(name, "every input record processed and committed");
        Ok(())
    }

    /// `stop` of a pipeline: it finishes its current transaction, stops its consumer and ends.
    async fn stop_pipeline(&mut self, name: &str) -> Result<(), String> {
        let Some(pipeline) = self.pipelines.remove(name) else {
            return Err(format!("pipeline {name} is not started"));
        };
        let _ = pipeline.stop.send(true);
        let bound = self.scenario.settings.request_timeout() * 4;
        if tokio::time::timeout(bound, pipeline.task).await.is_err() {
            self.recorder.event(
                name,
                format!("pipeline did not stop within {}ms", bound.as_millis()),
            );
        }
        pipeline.cluster.close().await;
        self.recorder.changed();
        Ok(())
    }

    /// A producer whose record timestamps are the epoch plus virtual time.
    async fn start_producer(&mut self, name: &str, topic: &str) -> Result<(), String> {
        let recorder = self.recorder.clone();
        recorder.event(name, "start producer");
        let cluster = self.connect(name, None).await?;
        let clock = self.clock();
        let producer = Producer::with_clock(cluster.clone(), clock);
        self.producers.insert(
            name.to_owned(),
            ProducerRuntime {
                producer,
                cluster,
                topic: topic.to_owned(),
                next: 0,
            },
        );
        Ok(())
    }

    /// A pool: one shared cluster handle, one task per member (`name/index`).
    async fn start_pool(
        &mut self,
        name: &str,
        topics: &[String],
        size: usize,
        group: &str,
    ) -> Result<(), String> {
        let recorder = self.recorder.clone();
        recorder.event(name, format!("start pool size={size} group={group}"));
        recorder
            .lock()
            .pool_started
            .insert(name.to_owned(), recorder.now());
        let cluster = self.connect(name, Some(group)).await?;
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let mut members = Vec::new();
        for index in 0..size {
            let label = format!("{name}/{index}");
            let consumer = Consumer::start(cluster.clone(), &topic_refs);
            let (commands, commands_rx) = mpsc::unbounded_channel();
            recorder.lock().members.insert(
                label.clone(),
                MemberObservation {
                    pool: name.to_owned(),
                    alive: true,
                    ..MemberObservation::default()
                },
            );
            tokio::spawn(run_member(
                consumer,
                label.clone(),
                name.to_owned(),
                recorder.clone(),
                commands_rx,
            ));
            members.push((label, commands));
        }
        self.pools
            .insert(name.to_owned(), PoolRuntime { cluster, members });
        Ok(())
    }

    /// `wait_stable`: every live member of the pool stable in one generation.
    async fn wait_stable(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let pool = name.to_owned();
        self.wait(name, "wait_stable", timeout, move |o| {
            stable_generation(o, &pool).is_some()
        })
        .await?;
        let generation = stable_generation(&self.recorder.lock(), name);
        self.recorder.event(
            name,
            format!("all members stable gen={}", generation.unwrap_or(-1)),
        );
        Ok(())
    }

    /// `wait_rebalance`: every live member stable in a generation newer than the current one.
    async fn wait_rebalance(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let recorder = &self.recorder;
        let before = {
            let o = recorder.lock();
            o.members
                .values()
                .filter(|m| m.pool == name)
                .filter_map(|m| m.generation)
                .max()
                .unwrap_or(0)
        };
        let pool = name.to_owned();
        self.wait(name, "wait_rebalance", timeout, move |o| {
            stable_generation(o, &pool).is_some_and(|g| g > before)
        })
        .await?;
        let generation = {
            let mut o = recorder.lock();
            o.rebalanced_at.insert(name.to_owned(), recorder.now());
            stable_generation(&o, name)
        };
        recorder.event(
            name,
            format!(
                "rebalanced: all live members stable gen={}",
                generation.unwrap_or(-1)
            ),
        );
        Ok(())
    }

    /// `wait_delivered`: the pool got every acknowledged record of its topics.
    async fn wait_delivered(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let topics = self.pool_topics(name);
        let pool = name.to_owned();
        self.wait(name, "wait_delivered", timeout, move |o| {
            every_acked_delivered(o, &pool, &topics)
        })
        .await?;
        self.recorder
            .event(name, "every acknowledged record delivered");
        Ok(())
    }

    /// `produce`: `count` records with keys from the world's PRNG, one publish at a time.
    async fn produce(&mut self, name: &str, count: u32) -> Result<(), String> {
        let recorder = self.recorder.clone();
        let Some(producer) = self.producers.get_mut(name) else {
            return Err(format!("producer {name} is not started"));
        };
        let mut acked = 0;
        let mut failed = 0;
        let mut first_error = None;
        // Shared by the step's events and acknowledgements (four copies per record otherwise).
        let actor: Arc<str> = Arc::from(name);
        let topic = Name::from(producer.topic.as_str());
        // `key-N` and `NAME-N`, built without the formatting machinery, in two buffers the step
        // reuses (the event keeps the numbers, not the strings).
        let mut key = String::with_capacity(8);
        let mut value = String::with_capacity(name.len() + 8);
        for _ in 0..count {
            let key_number = self.rng.random_range(0..1000u32);
            key.clear();
            key.push_str("key-");
            push_decimal(&mut key, u64::from(key_number));
            let number = producer.next;
            value.clear();
            value.push_str(name);
            value.push('-');
            push_decimal(&mut value, number);
            producer.next += 1;
            match producer
                .producer
                .publish(&producer.topic, Some(key.as_bytes()), value.as_bytes(), &[])
                .await
            {
                Ok(meta) => {
                    acked += 1;
                    recorder.event_by(
                        &actor,
                        EventText::Produced {
                            producer: actor.clone(),
                            number,
                            key: key_number,
                            topic: topic.arc().clone(),
                            partition: meta.partition,
                            offset: meta.offset,
                        },
                    );
                    recorder
                        .lock()
                        .acked
                        .insert((topic.clone(), meta.partition, meta.offset), actor.clone());
                }
                Err(error) => {
                    failed += 1;
                    recorder.lock().produce_failed += 1;
                    first_error.get_or_insert(error.to_string());
                }
            }
        }
        recorder.event(
            name,
            format!(
                "produce step: {acked} acknowledged, {failed} failed{}",
                first_error.map_or(String::new(), |e| format!(" (first error: {e})"))
            ),
        );
        recorder.changed();
        Ok(())
    }

    /// `stop`: every member gets the same deadline (`request_timeout` from now), as
    /// `ConsumerPool::stop` gives; the pool's teardown is the time until the last one ended.
    async fn stop_pool(&mut self, name: &str) -> Result<(), String> {
        let recorder = self.recorder.clone();
        let Some(pool) = self.pools.remove(name) else {
            return Err(format!("pool {name} is not started"));
        };
        let began = Instant::now();
        let deadline = began + self.scenario.settings.request_timeout();
        recorder.event(
            name,
            format!(
                "stop begun (deadline +{}ms)",
                self.scenario.settings.request_timeout().as_millis()
            ),
        );
        let mut waits = Vec::new();
        for (_, commands) in &pool.members {
            let (done, wait) = oneshot::channel();
            if commands
                .send(MemberCommand::Stop { deadline, done })
                .is_ok()
            {
                waits.push(wait);
            }
        }
        for wait in waits {
            let _ = wait.await;
        }
        let took = began.elapsed();
        recorder.lock().pool_teardowns.insert(name.to_owned(), took);
        recorder.event(name, format!("stop ended after {}ms", took.as_millis()));
        pool.cluster.close().await;
        recorder.changed();
        Ok(())
    }

    /// `crash`: the member stops heartbeating without a LeaveGroup.
    async fn crash_member(&self, name: &str, index: usize) -> Result<(), String> {
        let Some(pool) = self.pools.get(name) else {
            return Err(format!("pool {name} is not started"));
        };
        if let Some((_, commands)) = pool.members.get(index) {
            let _ = commands.send(MemberCommand::Crash);
        }
        self.recorder
            .lock()
            .crashed_at
            .insert(name.to_owned(), self.recorder.now());
        // Let the member task see the command before the next step.
        tokio::task::yield_now().await;
        Ok(())
    }

    /// `fault`: installs a broker fault rule after the others.
    async fn install_fault(&self, rule: &FaultRule) -> Result<(), String> {
        let text = rule.to_string();
        let id = self
            .broker
            .add_fault(rule.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.recorder
            .event("world", format!("fault rule {} installed: {text}", id.0));
        Ok(())
    }

    /// `clear_faults`: removes every broker fault rule.
    async fn clear_faults(&self) -> Result<(), String> {
        self.broker
            .clear_faults()
            .await
            .map_err(|e| e.to_string())?;
        self.recorder.event("world", "fault rules cleared");
        Ok(())
    }

    fn pool_topics(&self, name: &str) -> Vec<String> {
        self.scenario
            .actors
            .iter()
            .find_map(|a| match &a.kind {
                ActorKind::Pool { topics, .. } if a.name == name => Some(topics.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Waits (without polling: on recorder changes) until `done` holds, at most `timeout`.
    async fn wait(
        &self,
        actor: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&crate::trace::Observations) -> bool,
    ) -> Result<(), String> {
        let mut changes = self.recorder.subscribe();
        let waiting = async {
            loop {
                changes.borrow_and_update();
                if done(&self.recorder.lock()) {
                    return;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, waiting)
            .await
            .map_err(|_| format!("{what} {actor} timed out after {}ms", timeout.as_millis()))
    }
}

fn recorder_start(recorder: &Recorder) -> Instant {
    Instant::now() - recorder.now()
}

/// The actors the scenario gives network faults (or heals): the only ones whose links watch
/// for them.
fn network_fault_actors(scenario: &Scenario) -> std::collections::BTreeSet<String> {
    let from_faults = scenario
        .faults
        .iter()
        .filter_map(|fault| match &fault.kind {
            FaultKind::Network { actor, .. } => Some(actor),
            FaultKind::Broker(_) | FaultKind::Cluster(_) => None,
        });
    let from_timeline = scenario
        .timeline
        .iter()
        .filter_map(|step| match &step.action {
            Action::Network(actor, _) | Action::Heal(actor) => Some(actor),
            _ => None,
        });
    from_faults.chain(from_timeline).cloned().collect()
}

fn apply_network(network: &Network, recorder: &Recorder, actor: &str, fault: &NetworkFault) {
    match fault {
        NetworkFault::Partition => network.partition(actor),
        NetworkFault::Latency(latency) => network.set_latency(actor, *latency),
        NetworkFault::Disconnect => network.disconnect(actor),
    }
    recorder.event(actor, format!("network fault: {fault}"));
}

/// Whether `pool` got every acknowledged record of `topics`. Both maps are ordered by record, so
/// one merge walk answers it without a lookup (and its key clones) per record.
fn every_acked_delivered(o: &crate::trace::Observations, pool: &str, topics: &[String]) -> bool {
    let mut delivered = o
        .deliveries
        .keys()
        .skip_while(|(p, _)| &**p < pool)
        .take_while(|(p, _)| &**p == pool)
        .map(|(_, record)| record)
        .peekable();
    o.acked
        .keys()
        .filter(|(t, _, _)| topics.iter().any(|topic| topic.as_str() == &**t))
        .all(|record| {
            while delivered.next_if(|d| *d < record).is_some() {}
            delivered.next_if(|d| *d == record).is_some()
        })
}

/// The generation every live member of `pool` is stable in, if they agree (and there is one).
fn stable_generation(o: &crate::trace::Observations, pool: &str) -> Option<i32> {
    let mut generation = None;
    for member in o.members.values().filter(|m| m.pool == pool && m.alive) {
        match (member.generation, generation) {
            (None, _) => return None,
            (Some(g), None) => generation = Some(g),
            (Some(g), Some(h)) if g != h => return None,
            _ => {}
        }
    }
    generation
}

/// One pool member: reports state changes and deliveries; stops or crashes on command.
async fn run_member(
    mut consumer: Consumer,
    label: String,
    pool: String,
    recorder: Recorder,
    mut commands: mpsc::UnboundedReceiver<MemberCommand>,
) {
    let mut states = consumer.watch_state();
    let mut receiving = true;
    // Names shared by every delivery's event and count (three copies per record otherwise); the
    // topic is the last one a record came from.
    let actor: Arc<str> = Arc::from(label.as_str());
    let pool_name = Name::from(pool.as_str());
    let mut topic: Option<Name> = None;
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(MemberCommand::Stop { deadline, done }) => {
                    recorder.event(&label, "stop begun");
                    let began = Instant::now();
                    let result = consumer.stop_by(deadline).await;
                    let took = began.elapsed();
                    {
                        let mut o = recorder.lock();
                        o.teardowns.insert(label.clone(), (took, result.is_err()));
                        if let Some(m) = o.members.get_mut(&label) {
                            m.alive = false;
                        }
                    }
                    recorder.event(
                        &label,
                        format!(
                            "stop ended after {}ms: {}",
                            took.as_millis(),
                            match &result {
                                Ok(()) => "ok".to_owned(),
                                Err(e) => format!("error: {e}"),
                            }
                        ),
                    );
                    recorder.changed();
                    let _ = done.send(());
                    return;
                }
                Some(MemberCommand::Crash) | None => {
                    drop(consumer);
                    if let Some(m) = recorder.lock().members.get_mut(&label) {
                        m.alive = false;
                    }
                    recorder.event(&label, "crashed (no LeaveGroup, no more heartbeats)");
                    recorder.changed();
                    return;
                }
            },
            changed = states.changed() => {
                if changed.is_err() {
                    continue;
                }
                let state = states.borrow_and_update().clone();
                observe_state(&recorder, &label, &pool, &state);
            }
            record = consumer.recv(), if receiving => match record {
                Some(record) => {
                    let record_topic = match &topic {
                        Some(topic) if **topic == *record.topic => topic.clone(),
                        _ => topic.insert(Name::from(record.topic.as_str())).clone(),
                    };
                    let key = (record_topic.clone(), record.partition, record.offset);
                    let count = {
                        let mut o = recorder.lock();
                        let count = o.deliveries.entry((pool_name.clone(), key)).or_default();
                        *count += 1;
                        *count
                    };
                    recorder.event_by(
                        &actor,
                        EventText::Delivered {
                            value: record.value,
                            topic: record_topic.arc().clone(),
                            partition: record.partition,
                            offset: record.offset,
                            count,
                        },
                    );
                    recorder.changed();
                }
                None => receiving = false,
            },
        }
    }
}

fn observe_state(recorder: &Recorder, label: &str, pool: &str, state: &MemberState) {
    let now = recorder.now();
    match state {
        MemberState::Stable {
            generation,
            member_id,
            assignment: assigned,
        } => {
            {
                let mut o = recorder.lock();
                if let Some(m) = o.members.get_mut(label) {
                    m.generation = Some(*generation);
                    m.member_id = Some(member_id.clone());
                    m.first_stable.get_or_insert(now);
                }
                o.member_names.insert(member_id.clone(), label.to_owned());
                let partitions = assigned
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                    .collect();
                o.assignments
                    .push((*generation, label.to_owned(), partitions));
                if !o.pool_all_assigned.contains_key(pool) && stable_generation(&o, pool).is_some()
                {
                    o.pool_all_assigned.insert(pool.to_owned(), now);
                }
            }
            recorder.event(
                label,
                format!(
                    "stable gen={generation} assignment={}",
                    assignment(assigned)
                ),
            );
        }
        MemberState::Joining => recorder.event(label, "joining"),
        MemberState::Failed(error) => recorder.event(label, format!("failed: {error}")),
        MemberState::Stopped => recorder.event(label, "stopped"),
        _ => recorder.event(label, format!("state {state:?}")),
    }
    recorder.changed();
}

impl std::fmt::Debug for World<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>(_: &T) {}
    let _ = is_send::<ProducerRuntime>;
}

impl ProducerRuntime {
    #[allow(dead_code)]
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

/// A cluster event on the broker core (see `kmock_core::cluster`), recorded in the trace: from a
/// timeline step or a `[[faults]] cluster = ...` entry.
async fn apply_cluster_event(
    broker: &BrokerHandle,
    recorder: &Recorder,
    event: &ClusterEvent,
) -> Result<(), String> {
    let applied = event.clone();
    let result = broker
        .update(move |core| match applied {
            ClusterEvent::BrokerDown(node) => core.broker_down(node),
            ClusterEvent::BrokerUp(node) => core.broker_up(node),
            ClusterEvent::MoveLeader {
                topic,
                partition,
                node,
            } => core.move_leader(&topic, partition, node),
            ClusterEvent::MoveCoordinator { group, node } => {
                core.move_group_coordinator(&group, node)
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    match result {
        Ok(_) => {
            recorder.event("world", format!("cluster: {event}"));
            Ok(())
        }
        Err(error) => Err(format!("cluster: {event}: {error}")),
    }
}

/// A `[[faults]] cluster = ...` entry at its time: the event, then (for `broker_down` with
/// `until_ms`) the broker up again. One that the broker refuses fails the run.
async fn scheduled_cluster_event(
    broker: &BrokerHandle,
    recorder: &Recorder,
    event: &ClusterEvent,
    until: Option<Duration>,
) {
    if let Err(message) = apply_cluster_event(broker, recorder, event).await {
        recorder.fail(format!("fault {message}"));
        return;
    }
    if let (ClusterEvent::BrokerDown(node), Some(until)) = (event, until) {
        tokio::time::sleep_until(recorder_start(recorder) + until).await;
        if let Err(message) =
            apply_cluster_event(broker, recorder, &ClusterEvent::BrokerUp(*node)).await
        {
            recorder.fail(format!("fault {message}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn push_decimal_writes_what_format_writes() {
        for n in [0, 1, 9, 10, 99, 100, 999, 1000, 123_456_789, u64::MAX] {
            let mut out = String::from("key-");
            super::push_decimal(&mut out, n);
            assert_eq!(out, format!("key-{n}"));
        }
    }
}
