//! The livechat widget in headless Chromium (`tests/js/widget_test.js`, playwright-core
//! driving Debian's Chromium), against the real binary: each test boots a fresh server,
//! makes the admin (who doubles as the agent), and runs one scenario; the host pages come
//! from a second loopback origin, so the widget is cross-origin as on a customer's site.
//! Failures leave screenshots in `target/browser-screenshots/`.
//!
//! Needs node, `tests/js/node_modules` and /usr/bin/chromium: skipped locally without them,
//! a failure in CI (see `common::js`).

mod common;
use common::*;

use std::sync::Mutex;
use std::time::Duration;

/// One Chromium at a time: the machine is small and the scenarios measure seconds on site.
static BROWSER: Mutex<()> = Mutex::new(());

fn scenario(name: &str, server_args: &[&str]) {
    if !browser_ready() {
        return;
    }
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let s = Server::start_with(server_args, &[]);
    let admin = s.admin_token();
    let base = s.url("");
    let base = base.trim_end_matches('/');
    let out = run_node(
        "widget_test.js",
        &[name],
        &[
            ("RTBOX_URL", base),
            ("RTBOX_ADMIN_TOKEN", &admin),
            ("RTBOX_ADMIN_EMAIL", ADMIN_EMAIL),
        ],
        Duration::from_secs(150),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    if !out.status.success() {
        eprintln!("--- server log\n{}", s.stderr_text());
    }
    assert_node_ok(&out);
    assert!(
        stdout.contains(&format!("DONE {name}")),
        "scenario {name} did not finish"
    );
}

#[test]
fn visitor_registers_chats_with_an_agent_and_keeps_the_conversation() {
    scenario("chat", &[]);
}

#[test]
fn time_on_site_counts_across_page_loads_of_one_visit() {
    scenario("time-on-site", &[]);
}

#[test]
fn page_url_trigger_follows_push_state_and_chat_opened_trigger_fires() {
    scenario("page-url", &[]);
}

#[test]
fn external_service_trigger_shows_the_contents_in_order() {
    scenario("external", &["--allow-private-outbound"]);
}

#[test]
fn run_once_trigger_is_not_shown_again_on_the_next_visit() {
    scenario("run-once", &[]);
}

#[test]
fn offline_form_reaches_the_agents_when_nobody_is_online() {
    scenario("offline", &[]);
}

#[test]
fn agent_html_is_rendered_as_text() {
    scenario("xss", &[]);
}

#[test]
fn on_a_phone_a_trigger_is_a_preview_bubble_and_the_page_stays_usable() {
    scenario("phone", &[]);
}

#[test]
fn strict_csp_and_aggressive_host_css_leave_the_widget_working() {
    scenario("strict", &[]);
}

#[test]
fn rtbox_api_replays_queued_calls_and_reports_events() {
    scenario("api", &[]);
}

#[test]
fn the_demo_page_chats_with_an_agent() {
    scenario("demo", &[]);
}

#[test]
fn appearance_pre_chat_fields_and_limits_follow_the_server_config() {
    scenario("config", &[]);
}

#[test]
fn the_chat_works_with_storage_blocked() {
    scenario("no-storage", &[]);
}

#[test]
fn keyboard_focus_trap_aria_dark_scheme_and_reduced_motion() {
    scenario("a11y", &[]);
}
