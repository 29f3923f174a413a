//! Choice: the first matching rule wins, `otherwise` catches the rest, and no match
//! without `otherwise` is a `States.NoChoiceMatched` error.

use waypost::prelude::*;

#[step]
fn small(x: i64) -> String {
    format!("small {x}")
}

#[step]
fn even(x: i64) -> String {
    format!("even {x}")
}

#[step]
fn other(x: i64) -> String {
    format!("other {x}")
}

fn rules() -> waypost::Choice<i64, String> {
    choice()
        .when("small", |x: &i64| *x < 10, small)
        .when("even", |x: &i64| x % 2 == 0, even)
}

#[tokio::test]
async fn rules_are_tried_in_order() {
    let wf = Workflow::new("pick", 1, rules().otherwise(other));
    let runtime = Runtime::new();
    // 4 matches both rules: the first one added wins.
    assert_eq!(runtime.run(&wf, 4).await.unwrap(), "small 4");
    assert_eq!(runtime.run(&wf, 12).await.unwrap(), "even 12");
    assert_eq!(runtime.run(&wf, 13).await.unwrap(), "other 13");
}

#[tokio::test]
async fn no_match_without_otherwise_is_an_error_naming_the_rules() {
    let wf = Workflow::new("pick", 1, rules());
    let err = Runtime::new().run(&wf, 13).await.unwrap_err();
    assert_eq!(err.name(), waypost::error::names::NO_CHOICE_MATCHED);
    assert_eq!(
        err.message(),
        "no rule of choice `choice` matched (tried small, even) and it has no `otherwise` branch"
    );
    assert_eq!(err.address(), Some("0.choice"));
}

#[tokio::test]
async fn branches_run_below_the_choice_at_their_label() {
    let wf = Workflow::new(
        "pick",
        1,
        pass("abs", |x: i64| x.abs()).then(rules().named("route").otherwise(other)),
    );
    let addresses: Vec<String> = wf
        .graph()
        .nodes()
        .iter()
        .map(|n| n.address.to_string())
        .collect();
    assert_eq!(
        addresses,
        [
            "0.abs",
            "1.route",
            "1.route/small/0.small",
            "1.route/even/0.even",
            "1.route/otherwise/0.other"
        ]
    );
    let labels: Vec<_> = wf
        .graph()
        .edges()
        .iter()
        .filter_map(|e| e.label.clone())
        .collect();
    assert_eq!(labels, ["small", "even", "otherwise"]);
}

#[test]
#[should_panic(expected = "choice `choice` already has a branch labelled `small`")]
fn duplicate_labels_are_refused_when_building() {
    let _ = rules().when("small", |_: &i64| true, other);
}
