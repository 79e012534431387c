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
