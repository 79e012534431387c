//! `kmock sim run FILE --timeline OUT.svg`: the SVG parses as XML and shows what the README
//! promises — a lane for the broker and each actor, request arrows, the fault in red, and the
//! teardown interval shaded with its 40 s — and a compressed time axis with the 40 s break.

use std::process::Command;

use kmock_tests::{kmock_binary, log_dir, workspace_root};

fn timeline(scenario: &str) -> String {
    let out = log_dir().join(format!(
        "timeline-{}-{}.svg",
        scenario.replace('/', "_"),
        std::process::id()
    ));
    let output = Command::new(kmock_binary())
        .args(["sim", "run", scenario, "--timeline"])
        .arg(&out)
        .current_dir(workspace_root())
        .output()
        .expect("run kmock sim run --timeline");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let svg = std::fs::read_to_string(&out).expect("the timeline file");
    let _ = std::fs::remove_file(&out);
    svg
}

fn with_class<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|c| c == class))
        })
        .collect()
}

#[test]
fn slow_leave_timeline_has_lanes_fault_and_shaded_teardown() {
    let svg = timeline("sims/slow-leave-default.toml");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lanes: Vec<&str> = with_class(&doc, "lane")
        .iter()
        .filter_map(|n| n.attribute("data-actor"))
        .collect();
    for actor in ["broker", "sse", "sse/0", "producer"] {
        assert!(lanes.contains(&actor), "no lane {actor}: {lanes:?}");
    }
    assert!(with_class(&doc, "request").len() > 10, "few request arrows");
    let faults = with_class(&doc, "fault");
    assert!(
        faults.iter().any(|n| n
            .descendants()
            .any(|t| t.text().is_some_and(|t| t.contains("LeaveGroup")))),
        "the delayed LeaveGroup is not marked as a fault"
    );
    let teardowns = with_class(&doc, "teardown");
    assert!(!teardowns.is_empty(), "no shaded teardown");
    assert!(svg.contains("teardown 40.0 s"), "teardown label");
    assert!(svg.contains("+40.0 s"), "compressed axis break of 40 s");
}

#[test]
fn timeline_needs_exactly_one_file() {
    let output = Command::new(kmock_binary())
        .args([
            "sim",
            "run",
            "sims/slow-leave-default.toml",
            "sims/slow-leave-test-env.toml",
            "--timeline",
            "/dev/null",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run kmock");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exactly one"));
}

/// The x of the dashed line of the lane named `name`.
fn lane_x(doc: &roxmltree::Document<'_>, name: &str) -> Option<f64> {
    with_class(doc, "lane")
        .into_iter()
        .find(|n| n.attribute("data-actor") == Some(name))?
        .descendants()
        .find(|n| n.has_tag_name("line"))?
        .attribute("x1")?
        .parse()
        .ok()
}

/// The arrow ends (x2) of the requests whose label starts with `api`.
fn request_ends(doc: &roxmltree::Document<'_>, api: &str) -> Vec<f64> {
    with_class(doc, "request")
        .into_iter()
        .filter(|g| {
            g.descendants()
                .any(|t| t.text().is_some_and(|t| t.starts_with(api)))
        })
        .filter_map(|g| g.descendants().find(|n| n.has_tag_name("line")))
        .filter_map(|line| line.attribute("x2")?.parse().ok())
        .collect()
}

#[test]
fn a_cluster_timeline_has_a_lane_per_broker_and_requests_reach_their_node() {
    // The coordinator (broker 2) moves to broker 0 during the stop: joins go to broker 2, the
    // first LeaveGroups too (NOT_COORDINATOR), the second ones to broker 0.
    let svg = timeline("sims/coordinator-moves-on-stop.toml");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    let lanes: Vec<&str> = with_class(&doc, "lane")
        .iter()
        .filter_map(|n| n.attribute("data-actor"))
        .collect();
    assert_eq!(
        &lanes[..3],
        ["broker 0", "broker 1", "broker 2"],
        "{lanes:?}"
    );
    assert!(!lanes.contains(&"broker"), "{lanes:?}");
    let broker = |node: i32| lane_x(&doc, &format!("broker {node}")).expect("a broker lane");
    let joins = request_ends(&doc, "JoinGroup");
    assert!(!joins.is_empty(), "no JoinGroup arrows");
    assert!(
        joins.iter().all(|x| *x == broker(2)),
        "{joins:?} vs {}",
        broker(2)
    );
    let leaves = request_ends(&doc, "LeaveGroup");
    assert_eq!(
        leaves,
        [broker(2), broker(2), broker(0), broker(0)],
        "LeaveGroup arrows: to the old coordinator, then the new one"
    );
    let moved = with_class(&doc, "cluster");
    assert_eq!(moved.len(), 1, "one cluster event");
    assert_eq!(moved[0].attribute("data-node"), Some("0"));
    let diamond = moved[0]
        .descendants()
        .find(|n| n.has_tag_name("path"))
        .and_then(|p| p.attribute("d"))
        .expect("the event's mark");
    assert!(
        diamond.starts_with(&format!("M{:.1},", broker(0))),
        "the move is drawn on broker 0's lane: {diamond}"
    );
}
