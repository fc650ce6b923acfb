//! XanoScript definitions through the real trigger service: one test per statement,
//! expressions, errors with positions, and the limits shared with Rhai.

use serde_json::{json, Value};

use super::*;
use crate::store::triggers::{self as st, Actions, Language, TriggerFields};
use crate::triggers::tests::{fixture, http_server, input, Fixture};
use crate::triggers::{Effect, TriggerAction, TriggerOutcome};

const SEED: &str = include_str!("../../../tests/data/xano_seed_trigger.xs");

fn def(actions: &str, stack: &str, response: Option<&str>) -> String {
    format!(
        "realtime_trigger t {{\n  channel = \"c\"\n  stack {{\n{stack}\n  }}\n{}  actions = {actions}\n}}\n",
        response.map(|r| format!("  response = {r}\n")).unwrap_or_default()
    )
}

fn msg_def(stack: &str, response: &str) -> String {
    def("{message: true}", stack, Some(response))
}

async fn add(fx: &Fixture, source: &str) -> st::TriggerRecord {
    let t = translate(source).unwrap_or_else(|e| panic!("{e}\n{source}"));
    let f = TriggerFields {
        name: t.definition.name.clone(),
        description: String::new(),
        channel: t.definition.channel.clone().unwrap_or("c".into()),
        active: true,
        tag: vec![],
        actions: Actions {
            message: t.definition.message,
            join: t.definition.join,
            leave: t.definition.leave,
        },
        script: source.into(),
        language: Language::XanoScript,
        branch: String::new(),
    };
    let guid = uuid::Uuid::new_v4().to_string();
    let rec = fx
        .db
        .write(move |c| st::insert(c, &guid, &f))
        .await
        .unwrap();
    fx.svc.reload().await.unwrap();
    rec
}

async fn run_msg(fx: &Fixture, payload: Value) -> TriggerOutcome {
    fx.svc
        .run(input(TriggerAction::Message, "c", payload))
        .await
}

async fn output(source: &str, payload: Value) -> Value {
    let fx = fixture(|_| {});
    add(&fx, source).await;
    match run_msg(&fx, payload).await {
        TriggerOutcome::Pass { payload, .. } => payload,
        other => panic!(
            "expected pass, got {other:?}\n{}",
            translate(source).unwrap().rhai
        ),
    }
}

async fn failure(source: &str, payload: Value) -> String {
    let fx = fixture(|_| {});
    add(&fx, source).await;
    match run_msg(&fx, payload).await {
        TriggerOutcome::Failed { error } => error,
        other => panic!("expected failure, got {other:?}"),
    }
}

fn compile_error(source: &str) -> XsError {
    match translate(source) {
        Err(e) => e,
        Ok(t) => panic!("expected an error, got Rhai:\n{}", t.rhai),
    }
}

#[test]
fn the_seed_definition_parses() {
    let t = translate(SEED).unwrap();
    assert_eq!(t.definition.name, "foo");
    assert_eq!(t.definition.channel.as_deref(), Some("my_channel"));
    // `{connection: true}` covers messages and joins, as the seed's response shows.
    assert!(t.definition.message && t.definition.join && !t.definition.leave);
    assert!(t.rhai.contains("v_x1 = 123;"), "{}", t.rhai);
}

#[test]
fn actions_and_settings() {
    let t = translate(
        "// leading comment\nrealtime_trigger \"x y\" {\n description = \"d\"\n channel = \"a/*\"\n active = false\n tags = [\"t1\"]\n /* block */ actions = {message: false, join: true}\n}",
    )
    .unwrap();
    let d = t.definition;
    assert_eq!((d.name.as_str(), d.description.as_str()), ("x y", "d"));
    assert_eq!(d.active, Some(false));
    assert_eq!(d.tags, Some(vec!["t1".to_string()]));
    assert!(!d.message && d.join);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_var_and_response() {
    let src = msg_def(
        "var $x1 { value = 123 }\nvar $t { value = $input.payload.text|trim }",
        "{n: $x1, t: $t, ch: $input.channel}",
    );
    assert_eq!(
        output(&src, json!({"text": "  hi "})).await,
        json!({"n": 123, "t": "hi", "ch": "c"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_delivers_the_message_unchanged() {
    let src = def("{message: true}", "var $x { value = 1 }", None);
    assert_eq!(output(&src, json!({"a": 1})).await, json!({"a": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_var_update() {
    let src = msg_def(
        "var $o { value = {a: {b: 1}, list: [1, 2]} }\nvar.update $o.a.b { value = 5 }\nvar.update $o.list[0] { value = 9 }\nvar $n { value = 1 }\nvar.update $n { value = $n + 1 }",
        "{o: $o, n: $var.n}",
    );
    assert_eq!(
        output(&src, json!(null)).await,
        json!({"o": {"a": {"b": 5}, "list": [9, 2]}, "n": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_conditional_if_elseif_else() {
    let src = msg_def(
        "var $grade { value = \"\" }\nconditional {\n if (`$input.payload.score >= 90`) { var.update $grade { value = \"A\" } }\n elseif (`$input.payload.score >= 80`) { var.update $grade { value = \"B\" } }\n else { var.update $grade { value = \"C\" } }\n}",
        "$grade",
    );
    let fx = fixture(|_| {});
    add(&fx, &src).await;
    for (score, want) in [(95, "A"), (85, "B"), (10, "C")] {
        let TriggerOutcome::Pass { payload, .. } = run_msg(&fx, json!({"score": score})).await
        else {
            panic!("not passed");
        };
        assert_eq!(payload, json!(want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_foreach() {
    let src = msg_def(
        "var $sum { value = 0 }\nvar $names { value = [] }\nforeach ($input.payload.items) {\n each as $item {\n  var.update $sum { value = $sum + $item.n }\n  var.update $names { value = $names|append:$item.name }\n }\n}",
        "{sum: $sum, names: $names|join:\",\"}",
    );
    let out = output(
        &src,
        json!({"items": [{"n": 1, "name": "a"}, {"n": 2, "name": "b"}]}),
    )
    .await;
    assert_eq!(out, json!({"sum": 3, "names": "a,b"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_names_as_in_xanos_examples() {
    let src = msg_def(
        "var x1 { value = \"hello\"|concat:\"world\":\", \"|capitalize }\nvar out { value = [] }\nforeach ($input.payload) {\n each as item {\n  var.update out { value = $out|append:$item }\n }\n}",
        "{x1: $x1, out: $out}",
    );
    assert_eq!(
        output(&src, json!([1, 2])).await,
        json!({"x1": "Hello, world", "out": [1, 2]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_for() {
    let src = msg_def(
        "var $seen { value = [] }\nfor (3) {\n each as $index {\n  var.update $seen { value = $seen|append:$index }\n }\n}",
        "$seen",
    );
    assert_eq!(output(&src, json!(null)).await, json!([0, 1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_while_break_and_continue() {
    let src = msg_def(
        "var $i { value = 0 }\nvar $odd { value = [] }\nwhile (`$i < 100`) {\n each {\n  var.update $i { value = $i + 1 }\n  conditional { if (`$i > 7`) { break } }\n  conditional { if (`$i % 2 == 0`) { continue } }\n  var.update $odd { value = $odd|append:$i }\n }\n}",
        "{i: $i, odd: $odd}",
    );
    assert_eq!(
        output(&src, json!(null)).await,
        json!({"i": 8, "odd": [1, 3, 5, 7]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_precondition_rejects_with_its_message() {
    let src = msg_def(
        "precondition (`$input.payload.text|strlen > 0`) {\n error_type = \"inputerror\"\n error = \"Empty messages are not allowed\"\n}",
        "$input.payload",
    );
    let fx = fixture(|_| {});
    add(&fx, &src).await;
    match run_msg(&fx, json!({"text": ""})).await {
        TriggerOutcome::Rejected { reason, .. } => {
            assert_eq!(reason, "Empty messages are not allowed")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run_msg(&fx, json!({"text": "x"})).await,
        TriggerOutcome::Pass { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_return_ends_the_stack_early() {
    let src = msg_def(
        "conditional { if (`$input.payload.quick`) { return { value = \"early\" } } }\nvar $x { value = \"late\" }",
        "$x",
    );
    assert_eq!(output(&src, json!({"quick": true})).await, json!("early"));
    assert_eq!(output(&src, json!({"quick": false})).await, json!("late"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_try_catch_finally() {
    let src = msg_def(
        "var $log { value = [] }\ntry_catch {\n try {\n  throw { name = \"BadInput\" value = \"no good\" }\n  var.update $log { value = $log|append:\"unreached\" }\n }\n catch {\n  var.update $log { value = $log|append:($error.name ~ \": \" ~ $error.message) }\n }\n finally {\n  var.update $log { value = $log|append:\"finally\" }\n }\n}\ntry_catch {\n try { var $n { value = \"x\"|add:1 } }\n catch { var.update $log { value = $log|append:($error.message|contains:\"expects a number\") } }\n}",
        "$log",
    );
    assert_eq!(
        output(&src, json!(null)).await,
        json!(["BadInput: no good", "finally", true])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_throw_uncaught_is_a_trigger_error_at_its_line() {
    let src = msg_def(
        "var $a { value = 1 }\nthrow {\n name = \"Stop\"\n value = \"halted\"\n}",
        "$a",
    );
    let err = failure(&src, json!(null)).await;
    assert!(err.contains("Stop: halted"), "{err}");
    assert!(err.contains("(line 5)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_errors_name_the_xanoscript_line() {
    let src = msg_def(
        "var $a { value = 1 }\n\nvar $b { value = $input.payload|add:\"z\" }",
        "$b",
    );
    let err = failure(&src, json!({"o": 1})).await;
    assert!(err.contains("add: expects a number"), "{err}");
    assert!(err.contains("(line 6)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_api_request_through_the_outbound_guard() {
    let base = http_server();
    let src = msg_def(
        &format!(
            "api.request {{\n url = \"{base}/json\"\n method = \"POST\"\n params = {{q: $input.payload}}\n headers = [\"x-token: abc\"]\n timeout = 5\n}} as $r\napi.request {{ url = \"{base}/json\" params = {{a: \"b c\"}} }} as $g"
        ),
        "{status: $r.response.status, body: $r.response.result.body, token: $r.response.result.token, method: $g.response.result.method, req: $r.request.method}",
    );
    // Loopback is denied by default …
    let err = failure(&src, json!(3)).await;
    assert!(err.contains("http()"), "{err}");
    // … and allowed when the operator opts in.
    let fx = fixture(|o| o.allow_private_outbound = Some(true));
    add(&fx, &src).await;
    let TriggerOutcome::Pass { payload, .. } = run_msg(&fx, json!(3)).await else {
        panic!("not passed");
    };
    assert_eq!(
        payload,
        json!({"status": 200, "body": "{\"q\":3}", "token": "abc", "method": "GET", "req": "POST"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_api_realtime_event() {
    let src = msg_def(
        "api.realtime_event {\n channel = \"audit\"\n data = {seen: $input.payload}\n auth_table = \"user\"\n}",
        "$input.payload",
    );
    let fx = fixture(|_| {});
    let rec = add(&fx, &src).await;
    match run_msg(&fx, json!("hi")).await {
        TriggerOutcome::Pass { effects, .. } => assert_eq!(
            effects,
            vec![Effect::Event {
                trigger_id: rec.id,
                channel: "audit".into(),
                data: json!({"seen": "hi"})
            }]
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_debug_log() {
    let src = msg_def(
        "debug.log { value = \"got \" ~ $input.payload.n }\ndebug.log { value = {n: 1} }",
        "$input.payload",
    );
    let fx = fixture(|_| {});
    let rec = add(&fx, &src).await;
    let report = fx
        .svc
        .test_run(
            &rec,
            input(TriggerAction::Message, "c", json!({"n": 4})),
            false,
        )
        .await;
    assert_eq!(report.outcome, "ok", "{:?}", report.error);
    assert_eq!(
        report.logs,
        vec!["got 4".to_string(), "{\"n\":1}".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stmt_db_set_get_del_query() {
    let src = msg_def(
        "db.get counts { field_name = \"id\" field_value = $input.channel } as $row\nvar $n { value = ($row|get:\"n\":0) + 1 }\ndb.set counts { field_name = \"id\" field_value = $input.channel data = {n: $n} } as $saved\ndb.set counts { field_value = \"tmp\" data = {n: 0} }\ndb.del counts { field_value = \"tmp\" }\ndb.query counts as $all",
        "{n: $n, saved: $saved, all: $all}",
    );
    let fx = fixture(|_| {});
    add(&fx, &src).await;
    let TriggerOutcome::Pass { payload, .. } = run_msg(&fx, json!(null)).await else {
        panic!()
    };
    assert_eq!(
        payload,
        json!({"n": 1, "saved": {"n": 1}, "all": [{"n": 1}]})
    );
    let TriggerOutcome::Pass { payload, .. } = run_msg(&fx, json!(null)).await else {
        panic!()
    };
    assert_eq!(payload["n"], json!(2));
    let stored = fx.db.read(|c| st::kv_get(c, "counts/c")).await.unwrap();
    assert_eq!(stored, Some(json!({"n": 2})));
    assert_eq!(
        fx.db.read(|c| st::kv_get(c, "counts/tmp")).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expressions() {
    std::env::set_var("RTBOX_ENV_XS_TEST_REGION", "eu");
    let fx = fixture(|_| {});
    let src = msg_def(
        "var $a { value = 7 }",
        "{arith: $a * 2 + 1 - 10 / 4, rem: $a % 4, cmp: $a >= 7 && $a != 8 || false, not: !($a > 1), cat: \"n=\" ~ $a, tern: $a > 5 ? \"big\" : \"small\", coalesce: $input.payload.missing ?? \"dflt\", deep: $input.payload.o.p[1], client: $input.client.permissions.dbo_id, env: $env.XS_TEST_REGION, unset_env: $env.NOPE, bt: `$a|add:1`, neg: -$a, list: [1, \"two\", null, true, 2.5], input: $input.action}",
    );
    add(&fx, &src).await;
    let TriggerOutcome::Pass { payload, .. } = run_msg(&fx, json!({"o": {"p": [1, 2]}})).await
    else {
        panic!()
    };
    assert_eq!(
        payload,
        json!({"arith": 12.5, "rem": 3, "cmp": true, "not": false, "cat": "n=7", "tern": "big", "coalesce": "dflt", "deep": 2, "client": 7, "env": "eu", "unset_env": null, "bt": 8, "neg": -7, "list": [1, "two", null, true, 2.5], "input": "message"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_refused_by_a_false_response() {
    let src = def(
        "{join: true}",
        "var $ok { value = $input.client.extras.name == \"ann\" }",
        Some("$ok && $input.payload.bad != true"),
    );
    let fx = fixture(|_| {});
    add(&fx, &src).await;
    let join = |p: Value| input(TriggerAction::Join, "c", p);
    assert!(matches!(
        fx.svc.run(join(json!({}))).await,
        TriggerOutcome::Pass { .. }
    ));
    assert!(matches!(
        fx.svc.run(join(json!({"bad": true}))).await,
        TriggerOutcome::Rejected { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_while_hits_the_operation_limit() {
    let src = msg_def(
        "var $i { value = 0 }\nwhile (true) { each { var.update $i { value = $i + 1 } } }",
        "$i",
    );
    let err = failure(&src, json!(null)).await;
    assert!(err.contains("operation limit exceeded"), "{err}");
}

#[test]
fn errors_name_line_column_and_construct() {
    let e = compile_error(&msg_def(
        "var $a { value = 1 }\nutil.sleep { value = 1 }",
        "$a",
    ));
    assert_eq!((e.line, e.column), (5, 1));
    assert!(
        e.message
            .contains("statement `util.sleep` is not supported"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { value = \"x\"|sha256 }", "$a"));
    assert_eq!((e.line, e.column), (4, 22));
    assert!(
        e.message.contains("filter `sha256` is not supported"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { value = }", "$a"));
    assert_eq!((e.line, e.column), (4, 18));
    assert!(e.message.starts_with("expected a value"), "{}", e.message);

    let e = compile_error(&msg_def("conditional { if (`1`) { } otherwise { } }", "1"));
    assert!(
        e.message
            .contains("expected `elseif`, `else` or the `}` closing `conditional`"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { valu = 1 }", "$a"));
    assert_eq!((e.line, e.column), (4, 10));
    assert!(
        e.message.contains("`var` has no parameter `valu`"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { value = $nope }", "$a"));
    assert!(
        e.message.contains("unknown variable `$nope`"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { value = \"x\"|replace:\"a\" }", "$a"));
    assert!(
        e.message
            .contains("filter `replace` takes 2 argument(s), 1 given"),
        "{}",
        e.message
    );

    let e = compile_error(&msg_def("var $a { value = $input.nope }", "$a"));
    assert!(
        e.message.contains("`$input.nope` is not an input"),
        "{}",
        e.message
    );

    let e = compile_error("realtime_trigger t {\n  channel = \"c\"\n  middleware = {}\n}");
    assert_eq!((e.line, e.column), (3, 3));
    assert!(e
        .message
        .contains("unknown realtime_trigger setting `middleware`"));

    let e = compile_error("query foo verb=GET {\n}");
    assert!(e
        .message
        .contains("expected `realtime_trigger`, found `query`"));

    let e = compile_error(&msg_def("break", "1"));
    assert!(e.message.contains("`break` outside a loop"));

    let e = compile_error(&msg_def(
        "db.get t { field_name = \"email\" field_value = 1 }",
        "1",
    ));
    assert!(e.message.contains("by `id` only"), "{}", e.message);

    let e = compile_error(&msg_def("var $a { value = `1 +` }", "$a"));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("expected a value"), "{}", e.message);

    let e = compile_error("realtime_trigger t {\n channel = \"c\"\n actions = {message: false}\n}");
    assert!(e.message.contains("at least one"), "{}", e.message);

    let e = compile_error(
        "realtime_trigger t {\n channel = \"c\"\n stack {\n  var $s { value = \"open }\n }\n}",
    );
    assert_eq!((e.line, e.column), (4, 20));
    assert!(e.message.contains("unterminated string"));
}

#[test]
fn error_lines_map_back_to_the_source() {
    assert_eq!(
        map_error_lines("x (line 2, column 5) y (line 9, column 1)", &[1, 7, 8]),
        "x (line 7) y (line 9, column 1)"
    );
}

#[test]
fn a_pass_through_trigger_compiles_to_one_expression() {
    let src = "realtime_trigger pass {\n channel = \"c\"\n stack {}\n response = $input.payload\n actions = {message: true}\n}";
    assert_eq!(translate(src).unwrap().rhai.trim(), "payload");
}

/// CPU time of this whole process (every thread), so other processes on a shared machine
/// do not inflate the numbers.
fn process_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `cargo test --release --lib xanoscript::tests::cost_of_xanoscript_vs_rhai -- --ignored
/// --nocapture`: CPU per run of a XanoScript trigger and its Rhai equivalent, interleaved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; prints numbers"]
async fn cost_of_xanoscript_vs_rhai() {
    let cases = [
        ("pass-through", "", "payload"),
        (
            "small stack",
            "    var $text { value = $input.payload|to_text }\n    precondition (`$text|starts_with:\"seq=\"`) { error = \"bad payload\" }\n    conditional { if (`($text|strlen) > 100000`) { return { value = null } } }",
            "let text = payload.to_string(); if !text.starts_with(\"seq=\") { reject(\"bad payload\") } if text.len() > 100000 { return (); } payload",
        ),
    ];
    let payload = json!("seq=1;ts=2;pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    for (what, stack, rhai) in cases {
        let fx_x = fixture(|_| {});
        add(
            &fx_x,
            &def("{message: true}", stack, Some("$input.payload")),
        )
        .await;
        let fx_r = fixture(|_| {});
        fx_r.add("c", Actions::default(), rhai).await;
        let n = 3000u32;
        let (mut tx, mut tr) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for round in 0..7 {
            for (fx, total) in [(&fx_r, &mut tr), (&fx_x, &mut tx)] {
                let started = process_cpu();
                for _ in 0..n {
                    let out = fx
                        .svc
                        .run(input(TriggerAction::Message, "c", payload.clone()))
                        .await;
                    assert!(matches!(out, TriggerOutcome::Pass { .. }), "{out:?}");
                }
                let spent = process_cpu() - started;
                if round > 0 {
                    *total += spent;
                }
            }
        }
        println!(
            "{what}: rhai {:?}/run, xanoscript {:?}/run, ratio {:.3} (cumulative over 6 rounds of {n})",
            tr / (6 * n),
            tx / (6 * n),
            tx.as_secs_f64() / tr.as_secs_f64()
        );
    }
}
