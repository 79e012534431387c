//! The timeline picture (`kmock sim run FILE --timeline out.svg`): the run as a sequence diagram
//! in SVG, drawn by hand from the trace (no drawing crate).
//!
//! - One vertical lane per actor: the broker first, then every actor and pool member in order of
//!   appearance (`sse`, `sse/0`, `producer`, ...). A cluster (`brokers=N` in the trace header, or
//!   request lines that name their node, `conn-5@2`) gets one lane per broker node instead
//!   (`broker 0`, `broker 1`, ...): each request and its response are drawn to the lane of the node
//!   they reached, and the cluster events (`cluster: broker 1 down`, a leader or coordinator moved
//!   to broker 2) on the lane of the broker they name.
//! - Time flows down, one row per trace line. The axis is **compressed**: rows are evenly spaced
//!   whatever the time between them, and a jump in virtual time is drawn as a break labelled with
//!   its length (`+40.0 s`), so a 40-second wait takes one break, not 40 screens.
//! - A request is an arrow from its actor to the broker; its response an arrow back, in the row of
//!   the virtual time it was sent (a fault delay or a parked JoinGroup moves it down). A response
//!   due after the run ended is drawn to the bottom edge, labelled with when it was due. A request
//!   never answered ends in a cross at the broker.
//! - Faults are red: the rules installed, the requests a rule applied to, network faults.
//! - Each teardown (`stop begun` .. `stop ended`) is shaded on its lane, with its duration.
//!
//! Owns: parsing the rendered trace lines (the format of [`crate::trace`]) and the SVG. Must not:
//! run anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

const ROW: f64 = 18.0;
const BREAK: f64 = 26.0;
const LANE: f64 = 150.0;
const LEFT: f64 = 90.0;
const TOP: f64 = 70.0;
const RED: &str = "#c62828";

/// One trace line, parsed.
#[derive(Debug, Clone)]
enum Item {
    /// A client event on an actor's lane (or a world note when the actor is `world`).
    Event { actor: String, text: String },
    /// A request from `actor`; `response_after_ms` is when the response was sent, relative to the
    /// request (`None`: never).
    Request {
        actor: String,
        /// The broker node it reached (`conn-5@2`); `None` on a single broker.
        node: Option<i32>,
        label: String,
        response: String,
        response_after_ms: Option<f64>,
        fault: bool,
    },
    /// A response sent later than its request, drawn in its own row.
    Response {
        actor: String,
        node: Option<i32>,
        label: String,
        fault: bool,
        due_after_end: bool,
    },
}

#[derive(Debug, Clone)]
struct Row {
    time_ms: f64,
    item: Item,
}

fn parse_time(token: &str) -> Option<f64> {
    token.strip_suffix("ms")?.parse().ok()
}

/// `60s`, `250ms`, `2m` → milliseconds.
fn parse_duration(text: &str) -> Option<f64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let number: f64 = digits.parse().ok()?;
    let unit = &text[digits.len()..];
    let unit: String = unit.chars().take_while(char::is_ascii_alphabetic).collect();
    Some(match unit.as_str() {
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        _ => return None,
    })
}

fn parse_request(actor: &str, rest: &str) -> Option<Item> {
    let rest = rest.strip_prefix("conn-")?;
    let (connection, rest) = rest.split_once(char::is_whitespace)?;
    let node = connection
        .split_once('@')
        .and_then(|(_, node)| node.parse().ok());
    let rest = rest.trim_start();
    let (request, response) = rest.split_once(" -> ").unwrap_or((rest, ""));
    let mut words = request.split_whitespace();
    let api = words.next().unwrap_or_default();
    let version = words.next().unwrap_or_default();
    let fault = response.contains("[rule ");
    let never = response.starts_with("no response")
        || response.contains("dropped")
        || response.contains("connection closed")
        || response.starts_with("closed");
    let mut after = 0.0;
    if let Some(i) = response.find("(after ")
        && let Some(ms) = parse_duration(&response[i + 7..])
    {
        after += ms;
    }
    if let Some(i) = response.find("delay of ")
        && let Some(ms) = parse_duration(&response[i + 9..])
    {
        after += ms;
    }
    let short_response: String = response
        .split(['[', ';', '('])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(28)
        .collect();
    Some(Item::Request {
        actor: actor.to_owned(),
        node,
        label: format!("{api} {version}"),
        response: short_response,
        response_after_ms: (!never).then_some(after),
        fault,
    })
}

fn parse(trace: &str) -> (Vec<String>, Vec<Row>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for line in trace.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            header.push(h.to_owned());
            continue;
        }
        let mut parts = line.trim_start().splitn(2, char::is_whitespace);
        let Some(time_ms) = parts.next().and_then(parse_time) else {
            continue;
        };
        let rest = parts.next().unwrap_or_default().trim_start();
        let (actor, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let rest = rest.trim_start();
        let item = parse_request(actor, rest).unwrap_or_else(|| Item::Event {
            actor: actor.to_owned(),
            text: rest.to_owned(),
        });
        rows.push(Row { time_ms, item });
    }
    // Responses sent later than their requests get rows of their own, at their time.
    let end = rows.last().map_or(0.0, |r| r.time_ms);
    let mut late = Vec::new();
    for row in &rows {
        if let Item::Request {
            actor,
            node,
            label,
            response_after_ms: Some(after),
            fault,
            response,
        } = &row.item
            && *after > 0.0
        {
            let due = row.time_ms + after;
            late.push(Row {
                time_ms: due.min(end),
                item: Item::Response {
                    actor: actor.clone(),
                    node: *node,
                    label: if due > end {
                        format!(
                            "{label} response due at {:.1} s (after the run)",
                            due / 1000.0
                        )
                    } else {
                        format!("{label} {response}")
                    },
                    fault: *fault,
                    due_after_end: due > end,
                },
            });
        }
    }
    for row in late {
        // After every row of the same time (stable), so a response follows what led to it.
        let at = rows.partition_point(|r| r.time_ms <= row.time_ms);
        rows.insert(at, row);
    }
    (header, rows)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn seconds(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// The SVG of a run's trace. `title` goes on top (e.g. the scenario name and verdict).
pub fn svg(title: &str, trace: &str) -> String {
    let (header, rows) = parse(trace);
    let layout = Layout::new(&header, &rows);
    let mut out = String::new();
    draw_frame(&mut out, &layout, title, &header);
    draw_teardowns(&mut out, &layout, &rows);
    draw_lanes(&mut out, &layout);
    draw_breaks(&mut out, &layout);
    draw_rows(&mut out, &layout, &rows);
    out.push_str("</svg>\n");
    out
}

/// Where everything goes: lanes across, rows down.
struct Layout {
    /// The broker (or `broker 0`, `broker 1`, ... in a cluster), then actors in order of
    /// appearance (the world is not a lane).
    lanes: Vec<String>,
    /// Brokers drawn, one lane each; 1: the single `broker` lane.
    brokers: i32,
    /// Centre of each lane.
    lane_x: BTreeMap<String, f64>,
    /// The y of each row.
    ys: Vec<f64>,
    /// `(y, virtual time skipped)` of each break in the compressed axis.
    breaks: Vec<(f64, f64)>,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(header: &[String], rows: &[Row]) -> Self {
        let brokers = broker_count(header, rows);
        let mut lanes: Vec<String> = (0..brokers)
            .map(|node| broker_lane(brokers, node))
            .collect();
        for row in rows {
            let actor = match &row.item {
                Item::Event { actor, .. }
                | Item::Request { actor, .. }
                | Item::Response { actor, .. } => actor,
            };
            if actor != "world" && !lanes.contains(actor) {
                lanes.push(actor.clone());
            }
        }
        let lane_x = lanes
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), LEFT + 60.0 + i as f64 * LANE))
            .collect();
        // Row positions, with a labelled break wherever virtual time jumps.
        let mut ys = Vec::with_capacity(rows.len());
        let mut breaks = Vec::new();
        let mut y = TOP + 30.0;
        let mut previous: Option<f64> = None;
        for row in rows {
            if let Some(p) = previous
                && row.time_ms > p
            {
                breaks.push((y, row.time_ms - p));
                y += BREAK;
            }
            ys.push(y);
            y += ROW;
            previous = Some(row.time_ms);
        }
        let height = y + 40.0;
        let width = LEFT + 60.0 + lanes.len() as f64 * LANE + 260.0;
        Self {
            lanes,
            brokers,
            lane_x,
            ys,
            breaks,
            width,
            height,
        }
    }

    /// The centre of `actor`'s lane (the first lane's for an actor without one).
    fn x(&self, actor: &str) -> f64 {
        self.lane_x.get(actor).copied().unwrap_or(LEFT + 60.0)
    }

    /// The centre of the lane of broker `node` (the first broker's when unknown or single).
    fn broker_x(&self, node: Option<i32>) -> f64 {
        let node = node.filter(|n| (0..self.brokers).contains(n)).unwrap_or(0);
        self.x(&broker_lane(self.brokers, node))
    }
}

/// Brokers to draw: `brokers=N` from the trace header (a cluster scenario's broker line), at
/// least one more than the highest node a request line names; 1 for a single broker.
fn broker_count(header: &[String], rows: &[Row]) -> i32 {
    let declared = header
        .iter()
        .filter_map(|line| line.strip_prefix("broker: "))
        .flat_map(str::split_whitespace)
        .filter_map(|word| word.strip_prefix("brokers="))
        .filter_map(|n| n.parse::<i32>().ok())
        .max()
        .unwrap_or(1);
    let seen = rows
        .iter()
        .filter_map(|row| match &row.item {
            Item::Request { node, .. } | Item::Response { node, .. } => *node,
            Item::Event { .. } => None,
        })
        .max()
        .map_or(1, |node| node.saturating_add(1));
    // A lane per node, within the cluster limit (a trace is input: never thousands of lanes).
    declared.max(seen).clamp(1, MAX_BROKER_LANES)
}

/// Lanes drawn for brokers at most (kmock's limit on brokers per process).
const MAX_BROKER_LANES: i32 = 64;

/// The lane name of broker `node`: `broker` alone, `broker N` in a cluster.
fn broker_lane(brokers: i32, node: i32) -> String {
    if brokers > 1 {
        format!("broker {node}")
    } else {
        "broker".to_owned()
    }
}

/// The broker a cluster event names (`cluster: broker 1 down`, `cluster: leader of events-0 ->
/// broker 2`, `cluster: coordinator of g -> broker 0`): the last `broker N` in the text.
fn cluster_event_node(text: &str) -> Option<i32> {
    let rest = text.strip_prefix("cluster: ")?;
    let (_, after) = rest.rsplit_once("broker ")?;
    after.split_whitespace().next()?.parse().ok()
}

/// The `<svg>` element, arrow markers, background, title, first header line and legend.
fn draw_frame(out: &mut String, layout: &Layout, title: &str, header: &[String]) {
    let Layout { width, height, .. } = *layout;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker><marker id="arrow-red" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{RED}"/></marker></defs>"##
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    if let Some(first) = header.first() {
        let _ = writeln!(
            out,
            r##"<text x="10" y="38" fill="#555">{}</text>"##,
            escape(first)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="10" y="54" fill="#555">time flows down; the axis is compressed: each break is labelled with the virtual time that passed. Red: faults. Shaded: teardown (stop).</text>"##
    );
}

/// Each teardown (`stop begun` .. `stop ended`) shaded on its lane, with its duration.
fn draw_teardowns(out: &mut String, layout: &Layout, rows: &[Row]) {
    let mut open: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (row, y) in rows.iter().zip(&layout.ys) {
        if let Item::Event { actor, text } = &row.item {
            if text.starts_with("stop begun") {
                open.insert(actor.clone(), (*y, row.time_ms));
            } else if text.starts_with("stop ended")
                && let Some((y0, t0)) = open.remove(actor)
            {
                let lx = layout.x(actor);
                let _ = writeln!(
                    out,
                    r##"<rect class="teardown" data-actor="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#ffb300" fill-opacity="0.25" stroke="#ff8f00"/>"##,
                    escape(actor),
                    lx - LANE / 2.0 + 8.0,
                    y0 - ROW / 2.0,
                    LANE - 16.0,
                    y - y0 + ROW
                );
                // Written upwards along the left edge, clear of the arrows and events.
                let (tx, ty) = (lx - LANE / 2.0 + 22.0, y + ROW / 2.0 - 4.0);
                let _ = writeln!(
                    out,
                    r##"<text x="{tx:.1}" y="{ty:.1}" transform="rotate(-90 {tx:.1} {ty:.1})" fill="#e65100" font-weight="bold">teardown {}</text>"##,
                    seconds(row.time_ms - t0)
                );
            }
        }
    }
}

/// Each lane: its name in a box and a dashed line down.
fn draw_lanes(out: &mut String, layout: &Layout) {
    for name in &layout.lanes {
        let lx = layout.x(name);
        let _ = writeln!(
            out,
            r##"<g class="lane" data-actor="{0}"><rect x="{1:.1}" y="{2:.1}" width="{3:.1}" height="22" rx="4" fill="{4}" stroke="#333"/><text x="{5:.1}" y="{6:.1}" text-anchor="middle" font-weight="bold">{0}</text><line x1="{5:.1}" y1="{7:.1}" x2="{5:.1}" y2="{8:.1}" stroke="#999" stroke-dasharray="4 3"/></g>"##,
            escape(name),
            lx - LANE / 2.0 + 15.0,
            TOP,
            LANE - 30.0,
            if name == "broker" || name.starts_with("broker ") {
                "#e3f2fd"
            } else {
                "#f1f8e9"
            },
            lx,
            TOP + 15.0,
            TOP + 22.0,
            layout.height - 20.0
        );
    }
}

/// Each jump in virtual time: a dotted line across, labelled with the time skipped.
fn draw_breaks(out: &mut String, layout: &Layout) {
    for (by, gap) in &layout.breaks {
        let _ = writeln!(
            out,
            r##"<g class="break"><line x1="10" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#bbb" stroke-dasharray="2 4"/><text x="12" y="{2:.1}" fill="#1565c0" font-weight="bold">+{3}</text></g>"##,
            by + BREAK / 2.0 - 4.0,
            layout.width - 10.0,
            by + BREAK / 2.0 - 7.0,
            seconds(*gap)
        );
    }
}

/// Each row: its time (once per time) and its event, request or late response.
fn draw_rows(out: &mut String, layout: &Layout, rows: &[Row]) {
    let mut last_time: Option<f64> = None;
    for (row, &y) in rows.iter().zip(&layout.ys) {
        if last_time != Some(row.time_ms) {
            let _ = writeln!(
                out,
                r##"<text x="10" y="{:.1}" fill="#666">{}</text>"##,
                y + 4.0,
                seconds(row.time_ms)
            );
            last_time = Some(row.time_ms);
        }
        match &row.item {
            Item::Event { actor, text } => draw_event(out, layout, y, actor, text),
            Item::Request {
                actor,
                node,
                label,
                response,
                response_after_ms,
                fault,
            } => {
                let ends = (layout.x(actor), layout.broker_x(*node));
                draw_request(out, ends, y, label, *fault);
                draw_immediate_response(out, ends, y, response, *response_after_ms);
            }
            Item::Response {
                actor,
                node,
                label,
                fault,
                due_after_end,
            } => {
                let ends = (layout.x(actor), layout.broker_x(*node));
                draw_late_response(out, ends, y, label, *fault, *due_after_end);
            }
        }
    }
}

/// A client event (a dot on its lane) or a world note (beside the broker); red for faults.
fn draw_event(out: &mut String, layout: &Layout, y: f64, actor: &str, text: &str) {
    let fault = text.contains("fault") || text.contains("partition");
    let color = if fault { RED } else { "#333" };
    if actor == "world" && layout.brokers > 1 && text.starts_with("cluster: ") {
        draw_cluster_event(out, layout, y, text);
    } else if actor == "world" {
        let _ = writeln!(
            out,
            r#"<text class="{}" x="{:.1}" y="{:.1}" fill="{color}" font-style="italic">world: {}</text>"#,
            if fault { "fault" } else { "note" },
            layout.broker_x(None) + 8.0,
            y + 4.0,
            escape(text)
        );
    } else {
        let lx = layout.x(actor);
        let _ = writeln!(
            out,
            r#"<g class="{}"><circle cx="{lx:.1}" cy="{y:.1}" r="3.5" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="{color}">{}</text></g>"#,
            if fault { "fault" } else { "event" },
            lx + 7.0,
            y + 4.0,
            escape(text)
        );
    }
}

/// A cluster event (a broker down or up, a leader or coordinator moved to it): a red diamond on
/// the lane of the broker it names, with its text.
fn draw_cluster_event(out: &mut String, layout: &Layout, y: f64, text: &str) {
    let node = cluster_event_node(text);
    let bx = layout.broker_x(node);
    let _ = writeln!(
        out,
        r#"<g class="cluster fault" data-node="{}"><path d="M{bx:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{RED}"/><text x="{:.1}" y="{:.1}" fill="{RED}" font-style="italic">{}</text></g>"#,
        node.map_or_else(String::new, |n| n.to_string()),
        y - 5.0,
        bx + 8.0,
        y + 4.0,
        escape(text)
    );
}

/// A request: an arrow from its actor (`ends.0`) to the broker it reached (`ends.1`), red when a
/// fault rule applied.
fn draw_request(out: &mut String, ends: (f64, f64), y: f64, label: &str, fault: bool) {
    let (ax, broker) = ends;
    let (color, marker) = if fault {
        (RED, "arrow-red")
    } else {
        ("#333", "arrow")
    };
    let _ = writeln!(
        out,
        r#"<g class="request{}"><line x1="{ax:.1}" y1="{:.1}" x2="{broker:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.2" marker-end="url(#{marker})"/><text x="{:.1}" y="{:.1}" fill="{color}" text-anchor="middle">{}</text></g>"#,
        if fault { " fault" } else { "" },
        y - 2.0,
        y - 2.0,
        (ax + broker) / 2.0,
        y - 5.0,
        escape(label)
    );
}

/// The response in the request's row: an arrow back when sent at once, a cross at the broker
/// when never sent (a later response has a row of its own).
fn draw_immediate_response(
    out: &mut String,
    ends: (f64, f64),
    y: f64,
    response: &str,
    response_after_ms: Option<f64>,
) {
    let (ax, broker) = ends;
    match response_after_ms {
        Some(after) if after <= 0.0 => {
            let _ = writeln!(
                out,
                r##"<g class="response"><line x1="{broker:.1}" y1="{:.1}" x2="{ax:.1}" y2="{:.1}" stroke="#777" stroke-dasharray="4 2" marker-end="url(#arrow)"/><text x="{:.1}" y="{:.1}" fill="#777">{}</text></g>"##,
                y + 4.0,
                y + 4.0,
                ax.max(broker) + 6.0,
                y + 6.0,
                escape(response)
            );
        }
        Some(_) => {}
        None => {
            let _ = writeln!(
                out,
                r#"<g class="unanswered"><path d="M{:.1},{:.1} l8,8 M{:.1},{:.1} l-8,8" stroke="{RED}" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="{RED}">{}</text></g>"#,
                broker - 4.0,
                y,
                broker + 4.0,
                y,
                ax.max(broker) + 6.0,
                y + 6.0,
                escape(if response.is_empty() {
                    "no response"
                } else {
                    response
                })
            );
        }
    }
}

/// A response sent later than its request (dotted when due after the run ended).
fn draw_late_response(
    out: &mut String,
    ends: (f64, f64),
    y: f64,
    label: &str,
    fault: bool,
    due_after_end: bool,
) {
    let (ax, broker) = ends;
    let color = if fault { RED } else { "#777" };
    let marker = if fault { "arrow-red" } else { "arrow" };
    let _ = writeln!(
        out,
        r#"<g class="response late{}"><line x1="{broker:.1}" y1="{y:.1}" x2="{ax:.1}" y2="{y:.1}" stroke="{color}" stroke-dasharray="{}" marker-end="url(#{marker})"/><text x="{:.1}" y="{:.1}" fill="{color}">{}</text></g>"#,
        if fault { " fault" } else { "" },
        if due_after_end { "1 4" } else { "4 2" },
        ax.max(broker) + 6.0,
        y + 4.0,
        escape(label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "# scenario s seed=1
       0.000ms  world      fault rule 0 installed: leave_group:delay=60s
       0.000ms  sse/0      conn-2  JoinGroup v9 member=sse/0 -> ok gen=1 (after 3000ms)
    3000.000ms  sse/0      stop begun
    3000.000ms  sse/0      conn-2  LeaveGroup v5 members=sse/0 -> ok [sse/0:ok]; sent after a delay of 60s [rule 0: leave_group delay=60s]
   43000.000ms  sse/0      stop ended after 40000ms
";

    #[test]
    fn lanes_arrows_faults_breaks_and_teardown() {
        let svg = svg("s", TRACE);
        assert!(svg.contains(r#"data-actor="broker""#));
        assert!(svg.contains(r#"data-actor="sse/0""#));
        assert!(svg.contains("class=\"request fault\""));
        assert!(svg.contains("response due at 63.0 s"));
        assert!(svg.contains("teardown 40.0 s"));
        assert!(svg.contains("+40.0 s"));
        assert!(svg.contains("JoinGroup v9 ok gen=1"));
    }

    const CLUSTER_TRACE: &str = "# scenario c seed=1
# broker: initial_rebalance_delay_ms=0 brokers=3 default_replication_factor=3
       0.000ms  sse/0      conn-2@2 JoinGroup v9 member=sse/0 -> ok gen=1
       1.000ms  world      cluster: broker 2 down
       2.000ms  sse/0      conn-3@1 JoinGroup v9 member=sse/0 -> ok gen=2 (after 5ms)
";

    #[test]
    fn a_cluster_gets_a_lane_per_broker() {
        let (header, rows) = parse(CLUSTER_TRACE);
        let layout = Layout::new(&header, &rows);
        assert_eq!(&layout.lanes[..3], ["broker 0", "broker 1", "broker 2"]);
        assert!(matches!(rows[0].item, Item::Request { node: Some(2), .. }));
        assert!(matches!(rows[3].item, Item::Response { node: Some(1), .. }));
        assert_eq!(cluster_event_node("cluster: broker 2 down"), Some(2));
        assert_eq!(
            cluster_event_node("cluster: leader of events-0 -> broker 1"),
            Some(1)
        );
        assert_eq!(cluster_event_node("fault rule 0 installed"), None);
        let svg = svg("c", CLUSTER_TRACE);
        assert!(svg.contains(r#"class="cluster fault" data-node="2""#));
    }

    #[test]
    fn a_lane_per_node_seen_even_without_the_header_and_within_the_limit() {
        let trace = "       0.000ms  p          conn-1@4 Metadata v12 -> ok\n       0.000ms  p          conn-1@99999 Metadata v12 -> ok\n";
        let (header, rows) = parse(trace);
        assert_eq!(broker_count(&header, &rows), MAX_BROKER_LANES);
        let (header, rows) = parse("       0.000ms  p          conn-1 Metadata v12 -> ok\n");
        assert_eq!(broker_count(&header, &rows), 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s]"), Some(60_000.0));
        assert_eq!(parse_duration("250ms)"), Some(250.0));
        assert_eq!(parse_duration("2m"), Some(120_000.0));
    }
}
