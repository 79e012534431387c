//! The Python example (`examples/python/`): its pytest fixture starts `kmock serve --port 0
//! --control-port 0`, and its aiokafka 0.12.0 test injects a slow LeaveGroup through the control
//! API mid-test and checks the `.env.test` teardown (about 5 s). Run here with the venv's pytest
//! (pinned in tests/python/requirements.txt) and the kmock binary the other suites use.

use std::process::Command;
use std::time::Duration;

use kmock_tests::{kmock_binary, python, run_with_timeout, workspace_root};

#[test]
fn python_example_pytest_passes() {
    // Panics with what is missing (pytest, pytest-asyncio, aiokafka) and how to install it.
    let python = python();
    let mut command = Command::new(python);
    command
        .args([
            "-m",
            "pytest",
            "examples/python",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(workspace_root())
        .env("KMOCK_BIN", kmock_binary())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let run = run_with_timeout(command, Duration::from_secs(180));
    assert!(run.success(), "{}", run.report());
    assert!(run.stdout.contains("2 passed"), "{}", run.report());
}
